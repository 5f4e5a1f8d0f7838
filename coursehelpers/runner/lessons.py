"""Run lessons headless and collect the numbers they `record`.

The runner (`python -m coursehelpers lessons run`) executes each notebook in a fresh
kernel (or, with `in_process`, a plain Python process: see `inprocess.py`), saves the
executed copy, and gathers every recorded number into `results.json` with the peak
memory of the kernel and where the data came from.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

from ..env.device import device_name
from ..env.modes import get_mode
from ..env.paths import lessons_dir

__all__ = ['run_lessons', 'find_lessons', 'results_markdown']

PEAK_CELL = ("from coursehelpers.record import peak_memory_mb as _peak\n"
             "print('__PEAK_MB__=%.1f' % _peak())")


def find_lessons(names=()):
    """Notebook paths matching `names` (a number like '01', a stem, a word of it, or .ipynb paths).

    With no names, every lesson in `nbs/`.
    """
    if names and all(str(n).endswith('.ipynb') for n in names):
        return [Path(n).resolve() for n in names]
    nbs = sorted(lessons_dir().glob('[0-9][0-9]_*.ipynb'))
    if not names:
        return nbs
    chosen = []
    for name in names:
        hits = [p for p in nbs if p.stem == name or p.stem.startswith(f'{name}_') or name in p.stem]
        if not hits:
            raise ValueError(f'No lesson matches {name!r}; lessons: {", ".join(p.stem for p in nbs)}')
        chosen += [p for p in hits if p not in chosen]
    return chosen


def _run_one(path, out, timeout):
    """Execute one notebook in a fresh kernel; return (wall seconds, kernel peak MB, error or None)."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL, metadata={'tags': ['runner-added']}))
    os.environ['COURSE_LESSON'] = path.stem
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3',
                            resources={'metadata': {'path': str(path.parent)}})
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except Exception as e:                      # CellExecutionError, DeadKernelError, timeouts
        error = f'{type(e).__name__}: {e}'[-3000:]
    wall = time.perf_counter() - start
    nbformat.write(nb, out / path.name)
    text = ''.join(o.get('text', '') for o in nb.cells[-1].get('outputs', []))
    peak = re.search(r'__PEAK_MB__=([\d.]+)', text)
    return wall, float(peak.group(1)) if peak else None, error


def _run_in_process(path, out, timeout):
    """Run one notebook with `coursehelpers.runner.inprocess` in a fresh Python process (no Jupyter)."""
    import subprocess
    os.environ['COURSE_LESSON'] = path.stem
    start, error = time.perf_counter(), None
    try:
        proc = subprocess.run([sys.executable, '-m', 'coursehelpers.runner.inprocess', str(path)],
                              capture_output=True, text=True, timeout=timeout)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            error = f'exit code {proc.returncode}: {proc.stderr[-3000:]}'
    except subprocess.TimeoutExpired as e:
        log, error = str(e.stdout or ''), f'timed out after {timeout} s'
    wall = time.perf_counter() - start
    (out / f'{path.stem}.log').write_text(log)
    peak = re.search(r'__PEAK_MB__=([\d.]+)', log)
    return wall, float(peak.group(1)) if peak else None, error


def run_lessons(names=(), out='runs', timeout=1800, in_process=False):
    """Run lessons headless in the current mode; write `out/results.json`; return (results, failed).

    Each notebook runs top to bottom in a fresh kernel with the `nbs/` folder as
    its working directory; the executed copy is saved in `out`. Every number a
    lesson records, plus one `notebook_seconds` row per lesson (wall time and
    the kernel's peak memory), goes into `results.json`. A failing lesson is
    reported with its error and the others still run. With `in_process`, each
    notebook runs in a plain Python process instead of a Jupyter kernel (see
    `coursehelpers.runner.inprocess`), for machines without Jupyter; a log replaces the copy.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    records = out / 'records.jsonl'
    records.unlink(missing_ok=True)
    os.environ['COURSE_RESULTS'] = str(records)
    results, failed = [], []
    for path in find_lessons(names):
        print(f'running {path.name} ({get_mode()} mode) ...', flush=True)
        wall, peak, error = (_run_in_process if in_process else _run_one)(path, out, timeout)
        row = {'lesson': path.stem, 'mode': get_mode(), 'metric': 'notebook_seconds',
               'value': round(wall, 1), 'seconds': round(wall, 1), 'peak_mb': peak, 'data': None,
               'status': 'failed' if error else 'ok'}
        if error:
            row['error'] = error
            failed.append(path.stem)
            print(f'  FAILED: {error[-600:]}')
        results.append(row)
    if records.exists():
        results += [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    (out / 'results.json').write_text(json.dumps(results, indent=1))
    (out / 'results.md').write_text(results_markdown(results))
    _print_table(results)
    print(f'results: {out / "results.json"}; executed notebooks in {out}')
    return results, failed


def _print_table(results):
    print(f"\n{'lesson':<18}{'metric':<22}{'value':>12}{'seconds':>10}{'peak MB':>10}  data")
    for r in sorted(results, key=lambda r: (r['lesson'], r['metric'] != 'notebook_seconds')):
        data = ', '.join(f"{k}:{v['variant']} from {v['origin'].split(' ')[0]}"
                         for k, v in (r.get('data') or {}).items())
        secs = '' if r.get('seconds') is None else f"{r['seconds']:.1f}"
        peak = '' if r.get('peak_mb') is None else f"{r['peak_mb']:.0f}"
        value = 'FAILED' if r.get('status') == 'failed' else f"{r['value']:.4g}"
        print(f"{r['lesson']:<18}{r['metric']:<22}{value:>12}{secs:>10}{peak:>10}  {data}")


def results_markdown(results):
    """A markdown table of runner results (one row per recorded number), for the README.

    Each lesson's `notebook_seconds` row carries the notebook's wall time and the
    kernel's peak memory; every other row is a number the lesson recorded.
    """
    import platform
    lines = [f'Measured by `python -m coursehelpers lessons run` on {device_name()} '
             f'({platform.machine()}), mode {results[0]["mode"] if results else "?"}.', '',
             '| lesson | metric | value | training s | notebook s | peak MB |', '|---|---|---|---|---|---|']
    walls = {r['lesson']: r for r in results if r['metric'] == 'notebook_seconds'}
    for r in sorted(results, key=lambda r: r['lesson']):
        if r['metric'] == 'notebook_seconds':
            continue
        wall = walls.get(r['lesson'], {})
        lines.append(f"| {r['lesson']} | {r['metric']} | {r['value']:.4g} | {r.get('seconds') or ''} | "
                     f"{wall.get('value', '')} | {wall.get('peak_mb', '')} |")
    for name, wall in sorted(walls.items()):
        if not any(r['lesson'] == name and r['metric'] != 'notebook_seconds' for r in results):
            lines.append(f"| {name} | (records nothing) | | | {wall['value']} | {wall['peak_mb']} |")
    return '\n'.join(lines) + '\n'
