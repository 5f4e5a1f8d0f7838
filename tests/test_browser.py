"""End to end in a real browser: the README's `make lab`, lesson 01 opened in headless Chromium
(Debian's, or the one CHROMIUM names, driven by Playwright) and run to the end with Run All Cells,
as a student would: no cell may end in an error, and every plotting cell must show its figure."""
import os
import re
import time
from pathlib import Path

import pytest
from conftest import running_lab

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')   # Debian's; .ci/run installs it
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']


@pytest.fixture
def lab(tmp_path):
    """JupyterLab started as the README says; yields its URL, token and log."""
    # Autosave off: the executed lesson must never be written back into nbs/. Windowing off:
    # every cell stays in the page, so cells far from the viewport can be read back too.
    settings = tmp_path / 'settings' / '@jupyterlab'
    (settings / 'docmanager-extension').mkdir(parents=True)
    (settings / 'docmanager-extension' / 'plugin.jupyterlab-settings').write_text('{"autosave": false}')
    (settings / 'notebook-extension').mkdir(parents=True)
    (settings / 'notebook-extension' / 'tracker.jupyterlab-settings').write_text('{"windowingMode": "none"}')
    env = {'COURSE_MODE': 'quick', 'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'workspaces'),
           'JUPYTERLAB_SETTINGS_DIR': str(tmp_path / 'settings')}
    with running_lab(tmp_path, env) as (port, token, log):
        yield f'http://127.0.0.1:{port}', token, log


def chromium_or_skip():
    """The Chromium to drive; skips (fails under CI) with how to install one when it is missing."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    how = ('install it with `sudo apt-get install chromium` (bash .ci/run does), or set CHROMIUM '
           'to a Chrome or Chromium binary')
    if os.environ.get('CI'):
        pytest.fail(f'{CHROMIUM} is missing: {how}')
    pytest.skip(f'no browser for the real-browser tests: {CHROMIUM} is missing; {how}')


LESSON = '01_dogs_cats.ipynb'
# A cell that draws: pyplot's and an axes' drawing calls, the package's plot_* and show_*
# helpers, a learner's plot methods.
PLOTTING = re.compile(r'\.(imshow|plot\w*|bar|hist|scatter|contourf?)\(|\bplot_\w+\(|\bshow_(batch|images?)\(')
# How an error output reads once JupyterLab renders it: IPython's traceback (or, for a syntax
# error, its "Cell In[n], line m"). A warning on stderr has neither.
TRACEBACK = r'/Traceback \(most recent call last\)|Cell In\[\d+\], line \d+/'
CELLS = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell'
RUN_FINISHED = f"""() => {{
    const prompts = [...document.querySelectorAll('{CELLS} .jp-InputArea-prompt')];
    const status = document.querySelector('#jp-main-statusbar')?.innerText || '';
    return prompts.length > 0 && !prompts.some(p => p.innerText.includes('*')) && /\\| Idle/.test(status);
}}"""
CELL_STATE = f"""() => [...document.querySelectorAll('{CELLS}')].map(cell => ({{
    prompt: cell.querySelector('.jp-InputArea-prompt').innerText.trim(),
    text: (cell.querySelector('.jp-OutputArea')?.innerText || '').slice(0, 2000),
    errors: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText)
            .filter(text => {TRACEBACK}.test(text)).map(text => text.slice(-1500)),
    images: [...cell.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.complete && i.naturalWidth > 0).length,
    pending: [...cell.querySelectorAll('.jp-OutputArea-output img')].filter(i => !i.complete).length,
}}))"""


def plotting_cells(lesson):
    """Indices (among code cells) of the cells of `lesson` that draw a figure, read from their source."""
    import nbformat
    code = [c for c in nbformat.read(lesson, as_version=4).cells if c.cell_type == 'code']
    return [i for i, c in enumerate(code) if PLOTTING.search(c.source)]


def run_all_cells(page, timeout_s):
    """Run > Run All Cells from the menu; wait until no cell is pending and the kernel is idle."""
    page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(r'^Run$')).click()
    page.locator('.lm-Menu-itemLabel', has_text=re.compile(r'^Run All Cells$')).click()
    page.wait_for_function("() => [...document.querySelectorAll("
                           f"'{CELLS} .jp-InputArea-prompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))",
                           timeout=60_000)
    page.wait_for_function(RUN_FINISHED, timeout=timeout_s * 1000, polling=1000)


def run_one_more_cell(page, source):
    """Add a code cell below the last one (never saved: autosave is off), run it, return its state."""
    page.locator(CELLS).last.locator('.jp-InputArea-prompt').click()     # select it, command mode
    page.keyboard.press('b')                                            # a new cell below, selected
    page.keyboard.press('Enter')                                        # edit mode
    page.keyboard.type(source)
    page.keyboard.press('Control+Enter')                                # run it, stay on it
    page.wait_for_function(f"() => /\\[\\d+\\]/.test([...document.querySelectorAll('{CELLS}')].at(-1)"
                           ".querySelector('.jp-InputArea-prompt').innerText)", timeout=60_000)
    page.wait_for_function(RUN_FINISHED, timeout=60_000, polling=500)
    return page.evaluate(CELL_STATE)[-1]


def test_lesson_01_runs_to_the_end_in_chromium(lab, tmp_path):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright
    base, token, log = lab
    lesson = ROOT / 'nbs' / LESSON
    stored = lesson.read_bytes()
    plots = plotting_cells(lesson)
    assert len(plots) >= 5, plots                             # the lesson's figures, from its source
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.set_default_timeout(90_000)
            page.goto(f'{base}/lab/tree/nbs/{LESSON}?token={token}')
            page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)').first.wait_for()
            # The kernel is ready when the status bar says so.
            page.locator('#jp-main-statusbar').filter(
                has_text=re.compile(r'Python \(coursehelpers\) \| Idle')).wait_for(timeout=120_000)
            start = time.perf_counter()
            run_all_cells(page, timeout_s=1800)
            seconds = time.perf_counter() - start
            page.wait_for_function(f"() => ({CELL_STATE})().every(c => c.pending === 0)", timeout=60_000)
            cells = page.evaluate(CELL_STATE)
            # The checks below are checked too: a raised error is caught, a warning on stderr is not.
            error = run_one_more_cell(page, "raise ValueError('a deliberate error')")
            warning = run_one_more_cell(page, "import sys; print('only a warning', file=sys.stderr)")
        except Exception:
            page.screenshot(path=str(tmp_path / 'lab.png'), full_page=True)
            log.seek(0)
            print(f'screenshot: {tmp_path / "lab.png"}\nJupyterLab log:\n{log.read()[-4000:]}')
            raise
        finally:
            browser.close()
    print(f'{LESSON}: Run All Cells took {seconds:.0f} s in JupyterLab')
    assert re.search(r'^mode\s+quick', cells[0]['text'], re.M), cells[0]['text']   # the banner
    assert len(error['errors']) == 1 and 'a deliberate error' in error['errors'][0], error
    assert warning['errors'] == [] and re.fullmatch(r'\[\d+\]:?', warning['prompt']), warning
    not_run = [i for i, c in enumerate(cells) if not re.fullmatch(r'\[\d+\]:?', c['prompt'])]
    assert not_run == [], f'cells {not_run} of {len(cells)} never ran (an earlier error stops Run All)'
    errors = {i: c['errors'] for i, c in enumerate(cells) if c['errors']}
    assert errors == {}, f'error outputs in code cells {list(errors)}:\n{errors}'
    drawn = [i for i, c in enumerate(cells) if c['images']]
    missing = sorted(set(plots) - set(drawn))
    assert missing == [], f'plotting cells {missing} show no figure; figures per cell: ' \
                          f'{[c["images"] for c in cells]}'
    assert drawn == plots, f'cells {sorted(set(drawn) - set(plots))} drew a figure that PLOTTING ' \
                           'does not recognise as a plotting cell: extend PLOTTING'
    assert lesson.read_bytes() == stored                       # the stored lesson stays clean
