"""Stalls: steps much slower than their neighbours, found in the timed loops of a lesson run.

`python -m coursehelpers lessons run --stalls` times every batch of every loop
(`COURSE_LOOP_TIMES`, `training/loop_timing.py`). Here the loops are grouped as a student
sees them: the training steps of one fit (all its epochs), the validation steps of that fit,
and each other loop (a prediction, a TTA pass, a precompute, an LR sweep) on its own. For each
group: its first step, its median step and its slowest later step. The course's goal on a GPU
(where a stall costs most, relative to the work): the first step of a group at most
`FIRST_STEP_LIMIT_S` seconds and no later step slower than `LATER_STEP_RATIO` times the
group's median.
"""
import json
import statistics

__all__ = ['stall_groups', 'stall_rows', 'print_stalls', 'read_loop_log', 'FIRST_STEP_LIMIT_S',
           'LATER_STEP_RATIO']

FIRST_STEP_LIMIT_S = 2.0
LATER_STEP_RATIO = 3.0


def stall_groups(records):
    """Group timed loop records (in the order they ran) into (lesson, name, step seconds).

    A fit writes its 'train' and 'epoch_valid' loops, one per epoch, then a 'fit' record;
    those loops become two groups, 'fit N train' and 'fit N valid'. Every other loop is a
    group of its own, named by its kind.

    >>> stall_groups([{'lesson': 'x', 'kind': 'train', 'steps_s': [3, 1]},
    ...               {'lesson': 'x', 'kind': 'train', 'steps_s': [1, 1]},
    ...               {'lesson': 'x', 'kind': 'fit'},
    ...               {'lesson': 'x', 'kind': 'predict', 'steps_s': [2]}])
    [('x', 'fit 1 train', [3, 1, 1, 1]), ('x', 'predict', [2])]
    """
    groups, pending, fits = [], {}, {}
    for r in records:
        lesson = r.get('lesson', 'interactive')
        if r['kind'] == 'fit':
            fits[lesson] = fits.get(lesson, 0) + 1
            for kind in ('train', 'epoch_valid'):
                steps = pending.pop((lesson, kind), None)
                if steps:
                    name = 'train' if kind == 'train' else 'valid'
                    groups.append((lesson, f'fit {fits[lesson]} {name}', steps))
        elif r['kind'] in ('train', 'epoch_valid'):
            pending.setdefault((lesson, r['kind']), []).extend(r.get('steps_s') or [])
        else:
            groups.append((lesson, r['kind'], list(r.get('steps_s') or [])))
    for (lesson, kind), steps in pending.items():          # a fit that did not finish
        groups.append((lesson, f'unfinished fit {kind}', steps))
    return groups


def stall_rows(records):
    """One row per group: steps, first, median and slowest later step, and the verdicts.

    >>> row = stall_rows([{'lesson': 'x', 'kind': 'valid', 'steps_s': [0.5, 0.1, 0.1, 0.4]}])[0]
    >>> row['median_s'], row['worst_later_ratio'], row['first_ok'], row['later_ok']
    (0.25, 1.6, True, True)
    """
    rows = []
    for lesson, name, steps in stall_groups(records):
        if not steps:
            continue
        median = statistics.median(steps)
        later = max(steps[1:]) if len(steps) > 1 else None
        ratio = None if later is None or median <= 0 else later / median
        rows.append({'lesson': lesson, 'loop': name, 'steps': len(steps),
                     'first_s': round(steps[0], 4), 'median_s': round(median, 4),
                     'worst_later_s': None if later is None else round(later, 4),
                     'worst_later_ratio': None if ratio is None else round(ratio, 2),
                     'first_ok': steps[0] <= FIRST_STEP_LIMIT_S,
                     'later_ok': ratio is None or ratio <= LATER_STEP_RATIO})
    return rows


def print_stalls(rows):
    """Print the stall table, marking each group that misses a goal."""
    print(f"\n{'lesson':<16}{'loop':<22}{'steps':>6}{'first s':>9}{'median s':>10}"
          f"{'worst later':>13}  verdict")
    for r in rows:
        worst = '' if r['worst_later_ratio'] is None else f"{r['worst_later_ratio']:.1f}x"
        verdict = [] if r['first_ok'] else [f'first step > {FIRST_STEP_LIMIT_S:g} s']
        verdict += [] if r['later_ok'] else [f'a later step > {LATER_STEP_RATIO:g}x median']
        print(f"{r['lesson']:<16}{r['loop']:<22}{r['steps']:>6}{r['first_s']:>9.3f}"
              f"{r['median_s']:>10.4f}{worst:>13}  {'; '.join(verdict) or 'ok'}")
    bad = sum(not (r['first_ok'] and r['later_ok']) for r in rows)
    print(f'{len(rows)} loops, {bad} with a stall')


def read_loop_log(path):
    """The records of a `COURSE_LOOP_TIMES` file (an empty list when it does not exist)."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
