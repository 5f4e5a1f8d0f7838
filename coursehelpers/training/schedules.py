"""Learning-rate schedules: pure functions, no state, no optimizer.

A *shape* is a function of progress `pos` in [0, 1] through one cycle that returns a
multiplier of the maximum learning rate (`cos_anneal`, `one_cycle`, `constant`).
`sgdr` lays cycles of a shape end to end and returns one multiplier per iteration;
`Learner.fit` multiplies each layer group's rate by it before every mini-batch.
`exp_sweep` is the learning-rate finder's sweep.

>>> sgdr(n_cycles=2, cycle_len=1, cycle_mult=1, iters_per_epoch=4).round(2).tolist()
[1.0, 0.85, 0.5, 0.15, 1.0, 0.85, 0.5, 0.15]
"""
import math

import numpy as np

__all__ = ['constant', 'cos_anneal', 'one_cycle', 'exp_sweep', 'cycle_lengths', 'sgdr']


def constant(pos):
    """The flat shape: the full learning rate all the way through.

    >>> constant(0.7)
    1.0

    Used by `Learner.fit` when no `cycle_len` is given.
    """
    return 1.0


def cos_anneal(pos, start=1.0, end=0.0):
    """Half a cosine from `start` down to `end` as `pos` goes from 0 to 1.

    Args:
        pos: progress through the cycle, in [0, 1].
        start, end: the multipliers at the start and at the end.
    Returns:
        the multiplier at `pos` (a float).

    >>> cos_anneal(0.0), cos_anneal(0.5), round(cos_anneal(1.0), 12)
    (1.0, 0.5, 0.0)

    Used by `Learner.fit` (lessons 01, 02 and 06: SGDR) and by `one_cycle`.
    """
    return end + (start - end) * (1 + math.cos(math.pi * pos)) / 2


def one_cycle(pos, pct_start=0.25, div=25.0, div_final=1e5):
    """Warm up, then anneal: fastai's `fit_one_cycle` shape.

    The multiplier climbs from 1/div to 1 (half a cosine) during the first
    `pct_start` of the cycle, then falls to 1/div_final (half a cosine).

    Args:
        pos: progress through the cycle, in [0, 1].
        pct_start: the share of the cycle spent warming up.
        div: the rate starts at max / div.
        div_final: the rate ends at max / div_final.
    Returns:
        the multiplier at `pos` (a float).

    >>> round(one_cycle(0.0), 6), one_cycle(0.25), one_cycle(1.0)
    (0.04, 1.0, 1e-05)

    Used by `Learner.fit_one_cycle` (lessons 03 to 06) and `Learner.fine_tune` (lesson 07).
    """
    if pos < pct_start:
        return cos_anneal(pos / pct_start, start=1 / div, end=1.0)
    return cos_anneal((pos - pct_start) / (1 - pct_start), start=1.0, end=1 / div_final)


def exp_sweep(pos, start, end):
    """Grow exponentially from `start` to `end`: equal steps on a log scale.

    >>> exp_sweep(0.5, 1e-6, 1.0)
    0.001

    Used by `Learner.lr_find` (lessons 01 and 03).
    """
    return start * (end / start) ** pos


def cycle_lengths(n_cycles, cycle_len=1, cycle_mult=1):
    """The length in epochs of each SGDR cycle: cycle i lasts `cycle_len * cycle_mult**i`.

    `cycle_len` may be a fraction of an epoch when the cycles add up to whole epochs:
    two cycles of half an epoch show a restart within a single epoch.

    >>> cycle_lengths(3, cycle_len=1, cycle_mult=2)
    [1, 2, 4]
    >>> cycle_lengths(2, cycle_len=0.5)
    [0.5, 0.5]

    Used by `sgdr` (3 cycles with `cycle_mult=2` last 1 + 2 + 4 = 7 epochs).
    """
    for name, value in {'n_cycles': n_cycles, 'cycle_mult': cycle_mult}.items():
        if int(value) != value or value < 1:
            raise ValueError(f'{name} must be a whole number of at least 1, not {value!r}.')
    if not cycle_len > 0:
        raise ValueError(f'cycle_len must be a number of epochs above 0, not {cycle_len!r}.')
    lengths = [cycle_len * cycle_mult ** i for i in range(int(n_cycles))]
    total = sum(lengths)
    if not math.isclose(total, round(total)) or round(total) < 1:
        raise ValueError(f'{n_cycles} cycles of cycle_len={cycle_len} (cycle_mult={cycle_mult}) '
                         f'last {total:g} epochs: training runs whole epochs, so choose them to '
                         'add up to a whole number (for example 2 cycles of cycle_len=0.5).')
    return [int(n) if float(n).is_integer() else n for n in lengths]


def sgdr(n_cycles, cycle_len, cycle_mult, iters_per_epoch, shape=cos_anneal):
    """Multipliers for every iteration of an SGDR run (cosine annealing with warm restarts).

    Each cycle restarts at the full rate (multiplier 1 for `cos_anneal`) and
    follows `shape` to its end; cycle i lasts `cycle_len * cycle_mult**i` epochs,
    rounded to whole mini-batches.

    Args:
        n_cycles, cycle_len, cycle_mult: the cycles, as in `cycle_lengths`.
        iters_per_epoch: mini-batches per epoch (`len(train_loader)`).
        shape: a function of progress in [0, 1]: `cos_anneal`, `one_cycle`, `constant`.
    Returns:
        a numpy array of `sum(cycle_lengths(...)) * iters_per_epoch` multipliers.

    >>> m = sgdr(3, cycle_len=1, cycle_mult=2, iters_per_epoch=10)
    >>> len(m), m[[0, 10, 30]].tolist()          # restarts after 1 and 3 epochs
    (70, [1.0, 1.0, 1.0])
    >>> sgdr(2, cycle_len=0.5, cycle_mult=1, iters_per_epoch=4).round(2).tolist()
    [1.0, 0.5, 1.0, 0.5]

    Used by `Learner.fit` (`learn.fit(1e-2, 3, cycle_len=1, cycle_mult=2)`).
    """
    ends = np.rint(np.cumsum(cycle_lengths(n_cycles, cycle_len, cycle_mult)) * iters_per_epoch)
    mults = []
    for start, end in zip([0, *ends[:-1]], ends):
        n = int(end - start)
        mults += [shape(i / n) for i in range(n)]
    return np.array(mults)
