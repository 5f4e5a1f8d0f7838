"""The pieces of the learning-rate finder: smoothing, the result, its plots.

`Learner.lr_find` runs the sweep (one optimizer step per mini-batch at rates growing
exponentially) and returns an `LRFindResult` built here.
"""
import math
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

__all__ = ['SmoothedLoss', 'LRFindResult', 'repeat_batches', 'end_diverged_sweep']


class SmoothedLoss:
    """An exponentially weighted moving average of the loss, with bias correction.

    Early values are divided by `1 - beta**n`, so the average does not start near 0.

    >>> s = SmoothedLoss(beta=0.98)
    >>> s.add(2.0), round(s.add(4.0), 3)
    (2.0, 3.01)

    Used by `Learner.lr_find` (lessons 01 and 03).
    """

    def __init__(self, beta=0.98):
        self.beta, self.avg, self.n = beta, 0.0, 0

    def add(self, loss):
        """Add one loss; return the smoothed value so far."""
        self.n += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        return self.avg / (1 - self.beta ** self.n)


def repeat_batches(loader, n):
    """Yield `n` mini-batches from `loader`, starting it again when it runs out.

    >>> len(list(repeat_batches([1, 2, 3], 7)))
    7
    """
    given = 0
    while given < n:
        for batch in loader:
            yield batch
            given += 1
            if given == n:
                return


def end_diverged_sweep(bar, losses, num_it):
    """End a sweep stopped because the loss diverged: its normal end, so say so in one line
    and close its tqdm progress `bar` full (a bar closed short reads as a failure: JupyterLab
    draws it red).

    >>> from tqdm import tqdm
    >>> bar = tqdm(total=100, disable=True)
    >>> end_diverged_sweep(bar, [0.7, 0.6, 2.5], num_it=100)
    lr_find: stopped at step 3 of 100: the loss diverged (smoothed loss 2.5, over 4 x its best 0.6).
    >>> bar.n, bar.total
    (3, 3)

    Used by `Learner.lr_find` (lessons 01 and 03).
    """
    steps = len(losses)
    bar.reset(total=steps)          # in JupyterLab this also shortens the drawn bar
    bar.n = steps
    bar.close()
    print(f'lr_find: stopped at step {steps} of {num_it}: the loss diverged (smoothed loss '
          f'{losses[-1]:.3g}, over 4 x its best {min(losses):.3g}).')


@dataclass
class LRFindResult:
    """What `Learner.lr_find` found: the rates tried and the smoothed loss at each.

    Attributes:
        lrs, losses: one entry per mini-batch of the sweep.
        lr_min: the rate at the lowest smoothed loss.
        lr_steep: the rate where the loss fell fastest (steepest slope against log(lr)).
        suggestion: `lr_min / 10`, the 2018 rule of thumb: an order of magnitude below
            the minimum, where the loss is still clearly falling.

    Used by `Learner.lr_find` (lessons 01 and 03: `learn.lr_find(); learn.plot_lr_find()`).
    """
    lrs: list
    losses: list
    lr_min: float = field(init=False)
    lr_steep: float = field(init=False)
    suggestion: float = field(init=False)

    def __post_init__(self):
        losses = np.array(self.losses, dtype=float)
        if not np.isfinite(losses).any():
            raise ValueError(f'The loss was not a finite number even at lr={self.lrs[0]:.1e}: '
                             'check the data (NaN values?) and the loss function.')
        best = int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan)))
        self.lr_min = self.lrs[best]
        self.suggestion = self.lr_min / 10
        slopes = np.gradient(losses[:best + 1], np.log(self.lrs[:best + 1])) if best > 1 else [0]
        self.lr_steep = self.lrs[int(np.argmin(slopes))]

    def __repr__(self):
        return (f'LRFindResult({len(self.lrs)} steps, suggestion={self.suggestion:.1e}, '
                f'lr_min={self.lr_min:.1e}, lr_steep={self.lr_steep:.1e})')

    def plot(self):
        """Plot, left, the loss against the learning rate (log axis, suggestion marked) and,
        right, the rate at each step of the sweep.

        Returns:
            the matplotlib figure (two axes: loss, then rate).
        """
        fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.5))
        ax_loss.set_title('loss against learning rate')
        ax_lr.set_title('learning rate at each step')
        ax_loss.plot(self.lrs, self.losses)
        ax_loss.set(xscale='log', xlabel='learning rate (log scale)', ylabel='smoothed loss')
        at = self.lrs.index(min(self.lrs, key=lambda lr: abs(math.log(lr / self.suggestion))))
        ax_loss.plot(self.suggestion, self.losses[at], 'ro',
                     label=f'suggestion {self.suggestion:.1e} (min / 10)')
        ax_loss.legend()
        ax_lr.plot(self.lrs)
        ax_lr.set(yscale='log', xlabel='iteration', ylabel='learning rate (log scale)')
        fig.tight_layout()
        return fig
