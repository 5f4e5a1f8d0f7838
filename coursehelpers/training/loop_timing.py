"""Every batch loop of the course in one place: capped by `COURSE_MAX_BATCHES`, and timed for
the projection of a lesson's full-mode time.

`loop_batches(dl, kind)` yields the batches a loop runs: all of them, or the first
`max_batches()`. When `COURSE_LOOP_TIMES` names a file (the lesson runner's `lessons project`
sets it), each loop also appends one JSON line there: how many batches it ran, how many the
whole loop has, the seconds of its first batch (start-up: data loader workers, kernel
selection, allocation), of all of them, and of each batch (`steps_s`: loading it and the work
done on it, the GPU waited for; `runner/stalls.py` finds the slow ones). `project_loops` turns those lines into the time the
uncapped loops would take: start-up once, then the steady seconds per batch times every batch.
"""
import itertools
import json
import os
import statistics
import time

import torch

from ..env.modes import batches_to_run, max_batches

__all__ = ['loop_batches', 'log_fit', 'project_loop', 'project_loops']


def loop_batches(dl, kind, total=None, scales_with_data=True):
    """Yield the batches of `dl` a loop runs (at most `COURSE_MAX_BATCHES`), timing them.

    Args:
        dl: the loader (anything iterable; `len(dl)` is its length unless `total` is given).
        kind: what the loop is, for the projection: 'train', 'valid', 'lr_find', ...
        total: the loop's length when it is not `len(dl)` (the LR finder's `num_it`).
        scales_with_data: whether a bigger data set makes the loop longer (the LR finder's
            100 steps do not).

    >>> [b for b in loop_batches([1, 2, 3], 'valid')]        # without COURSE_MAX_BATCHES
    [1, 2, 3]

    Used by the Learner, `activations` and `lm_perplexity`.
    """
    if total is None and hasattr(dl, '__len__'):
        total = len(dl)
    n = max_batches() if total is None else batches_to_run(total)
    log = os.environ.get('COURSE_LOOP_TIMES')
    start, first, ran, steps, done = time.perf_counter(), None, 0, [], 0.0
    try:
        for batch in (dl if n is None else itertools.islice(dl, n)):
            yield batch
            ran += 1
            if log:
                now = _synced_seconds(start)
                steps.append(now - done)
                first, done = steps[0], now
    finally:
        if log and ran:
            record = {'lesson': os.environ.get('COURSE_LESSON', 'interactive'), 'kind': kind,
                      'ran': ran, 'total': total, 'scales_with_data': scales_with_data,
                      'first_s': first, 'all_s': _synced_seconds(start),
                      'batch_size': _batch_size(dl), 'steps_s': [round(t, 5) for t in steps]}
            with open(log, 'a') as f:
                f.write(json.dumps(record) + '\n')


def log_fit(epochs, ran_epochs):
    """Say, in the loop log, that a fit of `epochs` epochs ran `ran_epochs` of them
    (`COURSE_MAX_EPOCHS`): the projection multiplies its epochs' loops accordingly.

    Used by `Learner.fit`.
    """
    log = os.environ.get('COURSE_LOOP_TIMES')
    if log:
        with open(log, 'a') as f:
            f.write(json.dumps({'lesson': os.environ.get('COURSE_LESSON', 'interactive'),
                                'kind': 'fit', 'epochs': epochs, 'ran_epochs': ran_epochs}) + '\n')


def _batch_size(dl):
    """The loader's batch size, also when a batch sampler makes the batches."""
    size = getattr(dl, 'batch_size', None)
    return size if size is not None else getattr(getattr(dl, 'sampler', None), 'batch_size', None)


def _synced_seconds(start):
    """Seconds since `start`, after waiting for the GPU to finish what it was given."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def project_loop(rec, data_scale=1.0):
    """The projected seconds of one timed loop run in full: start-up, then steady batches.

    The steady seconds per batch are those after the first batch; the first batch's extra
    is start-up, paid once. A loop whose length grows with the data is scaled up from a
    stand-in of scale `data_scale` to the real data's size.

    >>> project_loop({'ran': 3, 'total': 10, 'first_s': 1.5, 'all_s': 2.5,
    ...               'scales_with_data': True})
    {'startup_s': 1.0, 'steady_s_per_batch': 0.5, 'batches': 10, 'projected_s': 6.0}
    """
    steady = (rec['all_s'] - rec['first_s']) / (rec['ran'] - 1) if rec['ran'] > 1 else rec['all_s']
    batches = rec['total'] if rec['total'] is not None else rec['ran']
    if rec.get('scales_with_data', True) and data_scale < 1:
        batches = round(batches / data_scale)
    startup = max(rec['first_s'] - steady, 0.0)
    return {'startup_s': round(startup, 4), 'steady_s_per_batch': round(steady, 4),
            'batches': batches, 'projected_s': round(startup + steady * batches, 4)}


def project_loops(records, data_scale=1.0):
    """Sum `project_loop` over the timed loops of one lesson, in the order they ran.

    A fit's epoch loops ('train', 'epoch_valid') count once per epoch of its schedule: when
    `COURSE_MAX_EPOCHS` stopped it early, its `fit` record says by how much to multiply them.

    Returns:
        a dict: measured seconds in the loops, projected seconds, start-up seconds, the
        median steady seconds per batch of the training loops, and the loops counted.

    >>> project_loops([{'ran': 2, 'total': 4, 'first_s': 3.0, 'all_s': 4.0, 'kind': 'train'}])
    {'loops': 1, 'measured_s': 4.0, 'projected_s': 6.0, 'startup_s': 2.0, 'train_s_per_batch': 1.0}
    """
    loops = [r for r in records if r['kind'] != 'fit']
    projected, pending = [], []
    for r in records:
        if r['kind'] == 'fit':
            for p in pending:                       # this fit's epochs, times the ones not run
                p['projected_s'] *= r['epochs'] / r['ran_epochs']
                p['startup_s'] *= r['epochs'] / r['ran_epochs']
            pending = []
            continue
        projected.append(project_loop(r, data_scale))
        if r['kind'] in ('train', 'epoch_valid'):
            pending.append(projected[-1])
    train = [p['steady_s_per_batch'] for p, r in zip(projected, loops) if r['kind'] == 'train']
    return {'loops': len(loops),
            'measured_s': round(sum(r['all_s'] for r in loops), 3),
            'projected_s': round(sum(p['projected_s'] for p in projected), 3),
            'startup_s': round(sum(p['startup_s'] for p in projected), 3),
            'train_s_per_batch': round(statistics.median(train), 4) if train else None}
