"""How long full mode would take on this machine, measured on stand-ins with a batch cap.

`python -m coursehelpers lessons project [NAMES] [--scale S] [--max-batches N]` makes the
stand-ins that are missing (`data standin`), runs each lesson in full mode with every loop
capped at N batches and timed (`training/loop_timing.py`), and projects each loop to its full
length: its start-up (the first batch's extra time) once, then its steady seconds per batch
times every batch the full schedule runs. A lesson's projection is its measured notebook time
with the loops' measured time replaced by their projected time. On a CPU it answers "how long
would full mode take on my laptop"; on a GPU it is the course's headline time.

The cells outside the loops (reading, joining, tokenising the data) are timed as they ran, on
stand-ins of scale S: at S = 1 they are full size, at smaller scales the projection
understates them (it says which scale it used).
"""
import json
import os
import statistics
from pathlib import Path

from ..datasets.registry import source
from ..datasets.standins import STANDIN_MAKERS, make_standin
from ..env.paths import data_root, standins_in
from ..training.loop_timing import project_loop, project_loops
from .lessons import run_lessons

__all__ = ['project_lessons', 'projection_rows']


def project_lessons(names=(), out='runs/projection', scale=0.02, max_batches=5, max_epochs=None,
                    timeout=1800, in_process=False):
    """Project the full-mode time of lessons `names` (default: all); return (rows, failed).

    Rows (one per lesson and one for the course) are added to `out/results.json` with the
    metric `projected_full_s`, and printed as a table.

    >>> rows, failed = project_lessons(['05'], scale=0.02)        # doctest: +SKIP

    Used by `python -m coursehelpers lessons project`.
    """
    if max_batches < 2:
        raise ValueError('max_batches must be at least 2: the first batch of a loop is its '
                         'start-up, the steady time per batch needs a second one.')
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    loops = out / 'loops.jsonl'
    loops.unlink(missing_ok=True)
    os.environ.update(COURSE_MODE='full', COURSE_MAX_BATCHES=str(max_batches),
                      COURSE_LOOP_TIMES=str(loops))
    if max_epochs:                      # the epochs not run are projected from the ones that ran
        os.environ['COURSE_MAX_EPOCHS'] = str(max_epochs)
    for name in STANDIN_MAKERS:
        folder = data_root() / source(name, 'full')[1].folder
        if not folder.exists():
            make_standin(name, scale=scale)
    results, failed = run_lessons(names, out, timeout, in_process=in_process)
    records = [json.loads(line) for line in loops.read_text().splitlines()] if loops.exists() else []
    rows = projection_rows(results, records, {n: i.get('scale', 1.0) for n, i in standins_in().items()})
    (out / 'results.json').write_text(json.dumps(results + rows, indent=1))
    print_projection(rows, max_batches)
    return rows, failed


def projection_rows(results, loops, scales):
    """One `projected_full_s` row per lesson that ran, and one for the whole course.

    Args:
        results: the runner's rows (`notebook_seconds` per lesson, and the recorded numbers,
            whose `data` says which data sets the lesson read).
        loops: the timed loops (`loop_timing.loop_batches` records), each with its lesson.
        scales: {data set: stand-in scale}; a data set not in it is real (scale 1).
    """
    rows = []
    for wall in (r for r in results if r['metric'] == 'notebook_seconds' and r['status'] == 'ok'):
        lesson = wall['lesson']
        used = {n for r in results if r['lesson'] == lesson for n in (r.get('data') or {})}
        scale = min([scales.get(n, 1.0) for n in used] or [1.0])
        mine = [r for r in loops if r['lesson'] == lesson]
        summary = project_loops(mine, scale)
        rows.append({'lesson': lesson, 'mode': 'full', 'metric': 'projected_full_s',
                     'value': round(wall['value'] - summary['measured_s'] + summary['projected_s'], 1),
                     'seconds': wall['value'], 'peak_mb': wall['peak_mb'], 'data': None,
                     'standin': scale < 1 or any(n in scales for n in used),
                     'data_scale': scale, 'startup_s': summary['startup_s'],
                     'loops_measured_s': summary['measured_s'],
                     'loops_projected_s': summary['projected_s'],
                     'train_samples_per_s': _samples_per_second(mine, scale)})
    total = {k: round(sum(r[k] for r in rows), 1)
             for k in ('value', 'seconds', 'startup_s', 'loops_projected_s')}
    rows.append({'lesson': 'course', 'mode': 'full', 'metric': 'projected_full_s', **total,
                 'peak_mb': max((r['peak_mb'] or 0 for r in rows), default=None), 'data': None,
                 'standin': any(r['standin'] for r in rows)})
    return rows


def _samples_per_second(loops, scale):
    """['bs 64 x 359 batches: 30.4', ...]: the training samples per second of each fit, in the
    order the fits ran (a fit's epochs end at its `fit` record)."""
    fits, epochs = [], []
    for r in loops:
        if r['kind'] == 'train' and r.get('batch_size'):
            epochs.append(project_loop(r, scale))
            size, batches = r['batch_size'], epochs[-1]['batches']
        elif r['kind'] == 'fit' and epochs:
            steady = statistics.median(p['steady_s_per_batch'] for p in epochs)
            fits.append(f'bs {size} x {batches} batches: '
                        + (f'{size / steady:.1f}' if steady else 'n/a'))
            epochs = []
    return fits


def print_projection(rows, max_batches):
    """The projection as a table: per lesson and for the course."""
    print(f'\nProjected full-mode time (every loop capped at {max_batches} batches, timed, and '
          'projected to its full length):')
    print(f"{'lesson':<16}{'ran s':>8}{'projected':>16}{'start-up s':>12}{'scale':>7}  "
          'training samples/s per fit')
    for r in rows:
        fits = '; '.join(r.get('train_samples_per_s') or [])
        print(f"{r['lesson']:<16}{r['seconds']:>8.0f}{_clock(r['value']):>16}"
              f"{r['startup_s']:>12.1f}{r.get('data_scale', ''):>7}  {fits}")


def _clock(seconds):
    """1234.5 -> '20 min 34 s'; 7384 -> '2 h 03 min'."""
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes >= 60:
        return f'{minutes // 60} h {minutes % 60:02d} min'
    return f'{minutes} min {secs:02d} s' if minutes else f'{secs} s'
