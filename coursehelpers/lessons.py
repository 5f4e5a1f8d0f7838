"""Record a lesson's headline numbers, and run lessons headless to collect them.

In a lesson: `record('accuracy', acc, seconds=train_time)`. The runner
(`python -m coursehelpers lessons run`) executes each notebook in a fresh
kernel, saves the executed copy, and gathers every recorded number into
`results.json` with the peak memory of the kernel and where the data came from.
"""
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

__all__ = ['record', 'run_lessons', 'find_lessons', 'lessons_dir', 'results_markdown']

PEAK_CELL = ("import resource as _r, sys as _s\n"
             "print('__PEAK_MB__=%.1f' % (_r.getrusage(_r.RUSAGE_SELF).ru_maxrss / "
             "(2**20 if _s.platform == 'darwin' else 1024)))")


def _peak_mb():
    """Peak resident memory of this process in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == 'darwin' else 1024), 1)


def record(metric, value, seconds=None, **extra):
    """Record one headline number of a lesson and return the record (a dict).

    `seconds` is the training time behind the number. The record holds the
    lesson, mode, metric, value, seconds, the kernel's peak memory (`peak_mb`)
    and which data set variants this kernel used. Under the lesson runner it
    is appended to the run's results; it is always printed.

    >>> r = record('accuracy', 0.98, seconds=12.5)   # doctest: +SKIP
    recorded accuracy = 0.98 (12.5 s, peak 900 MB)

    Used in lessons 01-08.
    """
    from .fetch import where_from
    from .modes import get_mode
    rec = {'lesson': os.environ.get('COURSE_LESSON', 'interactive'), 'mode': get_mode(),
           'metric': metric, 'value': float(value),
           'seconds': None if seconds is None else round(float(seconds), 2),
           'peak_mb': _peak_mb(), 'data': dict(where_from), **extra}
    out = os.environ.get('COURSE_RESULTS')
    if out:
        with open(out, 'a') as f:
            f.write(json.dumps(rec) + '\n')
    took = '' if seconds is None else f'{float(seconds):.1f} s, '
    print(f"recorded {metric} = {float(value):.4g} ({took}peak {rec['peak_mb']:.0f} MB)")
    return rec


def lessons_dir():
    """The `nbs/` folder of the course (next to the data root's default place)."""
    from .data import data_root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / 'nbs').is_dir() and (folder / 'coursehelpers').is_dir():
            return folder / 'nbs'
    raise FileNotFoundError(f'No nbs/ folder above {here}: run this from inside the course folder '
                            f'(data root would be {data_root()}).')


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
    """Run one notebook with `coursehelpers.inprocess` in a fresh Python process (no Jupyter)."""
    import subprocess
    os.environ['COURSE_LESSON'] = path.stem
    start, error = time.perf_counter(), None
    try:
        proc = subprocess.run([sys.executable, '-m', 'coursehelpers.inprocess', str(path)],
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
    `coursehelpers.inprocess`), for machines without Jupyter; a log replaces the copy.
    """
    from .modes import get_mode
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
    from .device import device_name
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
