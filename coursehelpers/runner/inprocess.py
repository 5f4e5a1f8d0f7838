"""Run a notebook's code cells in a plain Python process, for machines without Jupyter.

`python -m coursehelpers.runner.inprocess NOTEBOOK` executes the code cells in order in
one namespace, with the notebook's folder as working directory and a
non-interactive matplotlib backend. IPython-only lines (`!shell`, `%magic`,
`?name`, `??name`) are skipped and counted. The notebook is read with the
standard library only (it is JSON), so neither nbformat nor a kernel is needed.
Used by `python -m coursehelpers lessons run --in-process` and `make gpu-check`.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

from ..record import peak_memory_mb

IPYTHON_ONLY = re.compile(r'^\s*(!|%|\?)|\?\s*$')


def cell_sources(path):
    """The code cells of notebook `path` as Python source, IPython-only lines blanked."""
    nb = json.loads(Path(path).read_text())
    sources, skipped = [], 0
    for cell in nb['cells']:
        if cell['cell_type'] != 'code':
            continue
        lines = ''.join(cell['source']).splitlines()
        kept = [('pass  # ' + l.strip()) if IPYTHON_ONLY.search(l) else l for l in lines]
        skipped += sum(a != b for a, b in zip(lines, kept))
        sources.append('\n'.join(kept))
    return sources, skipped


def run(path):
    """Execute notebook `path`'s code cells in order; return the number of skipped lines."""
    import matplotlib
    matplotlib.use('Agg')
    path = Path(path).resolve()
    os.chdir(path.parent)
    sources, skipped = cell_sources(path)
    namespace = {'__name__': '__main__'}
    for i, src in enumerate(sources):
        start = time.perf_counter()
        exec(compile(src, f'{path.name}[code cell {i}]', 'exec'), namespace)
        print(f'[cell {i} done in {time.perf_counter() - start:.1f} s]', flush=True)
        matplotlib.pyplot.close('all')
    return skipped


if __name__ == '__main__':
    skipped = run(sys.argv[1])
    print(f'__SKIPPED__={skipped}\n__PEAK_MB__={peak_memory_mb():.1f}')
