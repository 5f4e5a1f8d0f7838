"""The rendered course (`make site`): lessons run, converted to HTML pages with their figures, an
index with the results table; read back in headless Chromium as a visitor of the site would."""
import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip('nbformat', reason="the site needs Jupyter and nbconvert: "
                               "pip install -e '.[dev]' (make setup)")
pytest.importorskip('nbconvert', reason="the site needs nbconvert: pip install -e '.[dev]' (make setup)")

from coursehelpers.runner.site import (SiteError, build_site, check_figures,  # noqa: E402
                                       count_image_outputs, count_page_figures)
from test_browser import FLAGS, chromium_or_skip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The two cheapest lessons: 00 draws nothing, 08 draws several figures (about 20 s together).
LESSONS = ['00_setup', '08_p_values']


@pytest.fixture(scope='module')
def site(tmp_path_factory, shared_data):
    """The site of LESSONS, built by the command line as `make site` builds it."""
    out = tmp_path_factory.mktemp('site')
    proc = subprocess.run([sys.executable, '-m', 'coursehelpers', 'site', *LESSONS, '--out', str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_the_site_has_a_page_per_lesson_and_an_index(site):
    assert sorted(p.name for p in site.glob('*.html')) == ['00_setup.html', '08_p_values.html', 'index.html']
    index = (site / 'index.html').read_text()
    for stem in LESSONS:
        assert f'href="{stem}.html"' in index
    assert 'p_value_simulated' in index and 'torch ' in index
    assert re.search(r'Measured on \d{4}-\d\d-\d\d \d\d:\d\d UTC, device ', index)
    executed = nbformat.read(site / 'notebooks' / '08_p_values.ipynb', as_version=4)
    drawn = count_image_outputs(executed)
    assert drawn >= 4                                       # the lesson's plots, as it ran
    assert count_page_figures((site / '08_p_values.html').read_text()) >= drawn
    assert 'Traceback' not in (site / '08_p_values.html').read_text()


def test_index_and_lesson_page_show_results_and_figures_in_chromium(site, tmp_path):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright
    executed = nbformat.read(site / 'notebooks' / '08_p_values.ipynb', as_version=4)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1200, 'height': 900})
            # Offline, as the test machine is: whatever a page would fetch from the web is refused,
            # so everything shown here comes from the site's own files.
            page.route(re.compile(r'^https?://'), lambda route: route.abort())
            page.goto((site / 'index.html').as_uri())
            rows = page.locator('#results tbody tr')
            assert rows.count() >= 3
            table = page.locator('#results').inner_text()
            assert '08_p_values' in table and 'p_value_closed_form' in table and '00_setup' in table
            assert 'torch' in page.locator('#measured').inner_text()
            page.locator('#lessons a', has_text=re.compile('p-value|p value|P-value|P value', re.I)).click()
            page.wait_for_load_state('load')
            assert page.url.endswith('/08_p_values.html')
            page.wait_for_function("() => [...document.images].every(i => i.complete)")
            widths = page.eval_on_selector_all('.jp-OutputArea-output img', 'imgs => imgs.map(i => i.naturalWidth)')
            text = page.locator('body').inner_text()
        except Exception:
            page.screenshot(path=str(tmp_path / 'site.png'))
            print(f'screenshot: {tmp_path / "site.png"}')
            raise
        finally:
            browser.close()
    loaded = [w for w in widths if w > 0]
    assert len(loaded) == len(widths) and len(loaded) >= count_image_outputs(executed) > 0, widths
    assert 'p-value' in text.lower()


def image_notebook(n_images):
    """An executed-looking notebook: a markdown image, then `n_images` PNG outputs."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new('RGB', (4, 3), 'red').save(buf, format='PNG')
    png = base64.b64encode(buf.getvalue()).decode()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f'# Two plots\n\n![inline](data:image/png;base64,{png})')]
    for i in range(n_images):
        cell = nbformat.v4.new_code_cell(f'plot({i})', execution_count=i + 1)
        cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text='drawing\n'),
                        nbformat.v4.new_output('display_data', data={'image/png': png, 'text/plain': '<Figure>'})]
        nb.cells.append(cell)
    return nb


def test_the_figure_check_fails_on_a_page_missing_a_figure():
    from nbconvert import HTMLExporter
    nb = image_notebook(2)
    assert count_image_outputs(nb) == 2
    page, _ = HTMLExporter(template_name='lab').from_notebook_node(nb)
    assert count_page_figures(page) == 2                     # the markdown image is not a figure
    assert check_figures(nb, page, '99_plots') == 2
    # The same page with its last output image lost: the check names the lesson and the counts.
    cut = page[:page.rfind('<img')] + page[page.rfind('<img'):].replace('<img', '<span', 1)
    assert count_page_figures(cut) == 1
    with pytest.raises(SiteError, match=r'page of 99_plots shows 1 figure\(s\) but the executed lesson drew 2'):
        check_figures(nb, cut, '99_plots')


def test_a_failing_lesson_fails_the_build_with_its_error(tmp_path, data_root):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell('# A broken lesson'),
                nbformat.v4.new_code_cell("raise ValueError('this lesson is broken')")]
    lesson = tmp_path / '97_broken.ipynb'
    nbformat.write(nb, lesson)
    out = tmp_path / 'site'
    with pytest.raises(SiteError) as e:
        build_site([str(lesson)], out)
    assert '97_broken' in str(e.value) and 'this lesson is broken' in str(e.value)
    assert not (out / 'index.html').exists() and not list(out.glob('*.html'))
