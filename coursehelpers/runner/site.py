"""The rendered course: `python -m coursehelpers site` (or `make site`).

Every lesson runs top to bottom in quick mode with the lesson runner (`lessons.py`), then each
executed notebook becomes one self-contained HTML page (nbconvert; figures embedded as data
URIs), and `index.html` links them beside the results table and the date and machine the
numbers were measured on. A lesson that fails stops the build with its error, and a page that
shows fewer figures than its executed lesson drew stops it too: no broken page is published.
"""
import html
import os
import platform
import re
import time
from html.parser import HTMLParser
from pathlib import Path

from ..env.device import device_name
from .lessons import run_lessons

__all__ = ['SiteError', 'build_site', 'count_image_outputs', 'count_page_figures', 'check_figures']

IMAGE_TYPES = ('image/png', 'image/jpeg', 'image/gif', 'image/svg+xml')
STYLE = ('body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;'
         'line-height:1.5}table{border-collapse:collapse}td,th{border:1px solid #ccc;'
         'padding:.2rem .6rem;text-align:left}td.num{text-align:right}caption{text-align:left;'
         'padding:.4rem 0}')


class SiteError(RuntimeError):
    """The site was not built: a lesson failed, or a page lost some of its figures."""


def count_image_outputs(nb):
    """How many images the code cells of an executed notebook (an nbformat node) display."""
    return sum(1 for cell in nb.cells if cell.cell_type == 'code'
               for out in cell.get('outputs', [])
               if out.get('output_type') in ('display_data', 'execute_result')
               and any(t in out.get('data', {}) for t in IMAGE_TYPES))


class _FigureCounter(HTMLParser):
    """Counts <img> and inline SVG figures inside the output areas of an nbconvert page."""

    def __init__(self):
        super().__init__()
        self.depth, self.inside, self.figures = 0, [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'div':
            self.depth += 1
            classes = (attrs.get('class') or '').split()
            if 'jp-OutputArea-output' in classes:
                self.inside.append(self.depth)
                self.figures += 'jp-RenderedSVG' in classes
        elif tag == 'img' and self.inside and (attrs.get('src') or '').startswith('data:image/'):
            self.figures += 1

    def handle_endtag(self, tag):
        if tag == 'div':
            if self.inside and self.inside[-1] == self.depth:
                self.inside.pop()
            self.depth -= 1


def count_page_figures(page):
    """How many figures an nbconvert HTML page (its text) shows in its cells' outputs."""
    counter = _FigureCounter()
    counter.feed(page)
    return counter.figures


def check_figures(nb, page, name):
    """Raise SiteError when the page of lesson `name` shows fewer figures than `nb` drew."""
    drawn, shown = count_image_outputs(nb), count_page_figures(page)
    if shown < drawn:
        raise SiteError(f'the page of {name} shows {shown} figure(s) but the executed lesson drew '
                        f'{drawn}: the HTML conversion lost some (check the nbconvert template)')
    return shown


def _title(nb, stem):
    """The lesson's first markdown heading, else its file name."""
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            m = re.search(r'^#+\s+(.+)$', cell.source, re.M)
            if m:
                return m.group(1).strip()
    return stem


def _lesson_page(nb, stem, title):
    """One lesson as a self-contained HTML page (the runner's own cell left out), with a way back."""
    from nbconvert import HTMLExporter
    nb.cells = [c for c in nb.cells if 'runner-added' not in c.metadata.get('tags', [])]
    exporter = HTMLExporter(template_name='lab', embed_images=True)
    page, _ = exporter.from_notebook_node(nb, resources={'metadata': {'name': title}})
    back = (f'<p style="margin:1rem 2rem"><a href="index.html">All lessons</a> &middot; '
            f'<a href="notebooks/{stem}.ipynb">the executed notebook</a></p>')
    return re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + back, page, count=1), nb


def machine():
    """Device, CPU model and cores, and versions, in one line."""
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(':', 1)[1].strip() for line in Path('/proc/cpuinfo').read_text()
                   .splitlines() if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return (f'device {device_name()}; CPU {cpu}, {os.cpu_count()} cores, {platform.system()} '
            f'{platform.machine()}; torch {torch.__version__}, Python {platform.python_version()}')


def _results_table(results):
    """The runner's results as an HTML table: one row per recorded number."""
    walls = {r['lesson']: r for r in results if r['metric'] == 'notebook_seconds'}
    rows = [r for r in results if r['metric'] != 'notebook_seconds']
    rows += [{'lesson': name, 'metric': '(records nothing)'} for name in walls
             if not any(r['lesson'] == name for r in rows)]
    cells = []
    for r in sorted(rows, key=lambda r: r['lesson']):
        wall = walls.get(r['lesson'], {})
        value = '' if r.get('value') is None else f"{r['value']:.4g}"
        nums = [value, r.get('seconds'), wall.get('value'), wall.get('peak_mb')]
        cells.append(f"<tr><td>{html.escape(r['lesson'])}</td><td>{html.escape(r['metric'])}</td>"
                     + ''.join(f'<td class="num">{"" if n is None else n}</td>' for n in nums) + '</tr>')
    return ('<table id="results"><caption>Every number the lessons recorded</caption><thead><tr>'
            '<th>lesson</th><th>metric</th><th>value</th><th>training s</th><th>notebook s</th>'
            '<th>peak MB</th></tr></thead><tbody>' + ''.join(cells) + '</tbody></table>')


def _index(lessons, results, when, mode):
    """index.html: the lessons, the results table, and when and where they were measured."""
    items = ''.join(f'<li><a href="{stem}.html">{html.escape(title)}</a> ({figures} figure'
                    f'{"" if figures == 1 else "s"})</li>' for stem, title, figures in lessons)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>The course, rendered'
            f'</title><style>{STYLE}</style></head><body><h1>The lessons, run and rendered</h1>'
            f'<p>Every lesson below ran top to bottom in {mode} mode; each page shows its outputs '
            f'and figures as they came out.</p><ol id="lessons">{items}</ol>'
            f'<h2>Results</h2><p id="measured">Measured on {html.escape(when)}, {html.escape(machine())}.'
            f'</p>{_results_table(results)}</body></html>')


def build_site(names=(), out='site', timeout=900, mode='quick'):
    """Run the lessons `names` (default: all) and write the site into `out`; return its index path.

    Raises SiteError, naming the lesson and its error, when a lesson fails or a page shows fewer
    figures than its lesson drew; nothing is then written. Example: `build_site(['08'], 'site')`.
    """
    import nbformat
    os.environ['COURSE_MODE'] = mode                   # the lessons' kernels inherit it
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / 'index.html').unlink(missing_ok=True)        # a failed build leaves no index behind
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    results, failed = run_lessons(names, out / 'notebooks', timeout)
    if failed:
        errors = '\n\n'.join(f"{r['lesson']}: {r['error']}" for r in results if r.get('error'))
        raise SiteError(f'{len(failed)} lesson(s) failed, so no site was written: {", ".join(failed)}. '
                        f'Run them in JupyterLab (make lab) to see the failing cell; the executed '
                        f'copies are in {out / "notebooks"}.\n\n{errors}')
    pages, lessons = {}, []
    for row in (r for r in results if r['metric'] == 'notebook_seconds'):
        stem = row['lesson']
        nb = nbformat.read(out / 'notebooks' / f'{stem}.ipynb', as_version=4)
        title = _title(nb, stem)
        page, nb = _lesson_page(nb, stem, title)
        lessons.append((stem, title, check_figures(nb, page, stem)))
        pages[stem] = page
    for stem, page in pages.items():
        (out / f'{stem}.html').write_text(page, encoding='utf-8')
    (out / 'index.html').write_text(_index(lessons, results, when, mode), encoding='utf-8')
    print(f'site: {out / "index.html"} ({len(lessons)} lessons)')
    return out / 'index.html'
