"""What `Learner.fit` shows: one table row per epoch, and the plots of a finished fit.

>>> print(table_line(['epoch', 'train_loss'], [5, 10]))
epoch train_loss
>>> print(table_line([0, 0.123456], [5, 10]))
    0   0.123456
"""
import matplotlib.pyplot as plt
import torch

from ..env.distributed import is_main

__all__ = ['table_line', 'print_epoch', 'weighted_mean', 'plot_losses', 'plot_metrics', 'plot_lr']


def table_line(cells, widths):
    """Right-align `cells` (text, or floats shown with 6 decimals) in columns of `widths`."""
    cells = [f'{c:.6f}' if isinstance(c, float) else str(c) for c in cells]
    return ' '.join(f'{c:>{w}}' for c, w in zip(cells, widths))


def print_epoch(row, header=False):
    """Print one epoch's row of the table (its header first when `header`).

    Args:
        row: a dict: epoch, train_loss, valid_loss, one entry per metric, time (seconds).

    >>> print_epoch({'epoch': 0, 'train_loss': 0.5, 'valid_loss': 0.25, 'time': 1.23}, header=True)
    epoch train_loss valid_loss   time
        0   0.500000   0.250000    1.2
    """
    if not is_main():                      # under torchrun, rank 0 prints the table
        return
    names = list(row)
    widths = [5] + [max(len(name), 10) for name in names[1:-1]] + [6]
    if header:
        print(table_line(names, widths))
    print(table_line([row['epoch'], *[row[n] for n in names[1:-1]], f"{row['time']:.1f}"], widths))


def weighted_mean(losses, sizes):
    """The mean loss over items of batches of `sizes` items (NaN when there is none)."""
    if not losses:
        return float('nan')
    weights = torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
    return (torch.stack(losses) @ weights / weights.sum()).item()


def plot_losses(history, batch_losses):
    """Training loss per mini-batch, and training and validation loss per epoch.

    Args:
        history: the DataFrame `learn.history` (one row per epoch).
        batch_losses: the training loss of every mini-batch (`learn.batch_losses`).
    Returns:
        the matplotlib axes.

    Used by `Learner.plot_losses` (lesson 05).
    """
    _, ax = plt.subplots(figsize=(6, 4))
    per_epoch = len(batch_losses) / max(len(history), 1)
    ax.plot(range(1, len(batch_losses) + 1), batch_losses, alpha=0.4, label='train (per batch)')
    ends = [(i + 1) * per_epoch for i in range(len(history))]
    ax.plot(ends, history['train_loss'], 'o-', label='train (epoch mean)')
    ax.plot(ends, history['valid_loss'], 'o-', label='valid')
    ax.set(xlabel='iteration', ylabel='loss')
    ax.legend()
    return ax


def plot_metrics(history, names):
    """Each metric of `history` against the epoch, one plot per metric.

    Returns:
        the matplotlib figure.

    Used by `Learner.plot_metrics`.
    """
    if not names:
        raise ValueError('This learner has no metrics to plot: create it with, for example, '
                         'Learner(model, dls, loss_func, metrics=[accuracy]).')
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(history['epoch'], history[name], 'o-')
        ax.set(xlabel='epoch', ylabel=name)
    fig.tight_layout()
    return fig


def plot_lr(lrs):
    """The learning rate of the last layer group at every iteration of the last fit.

    Returns:
        the matplotlib axes.

    Used by `Learner.plot_lr` (lessons 01 and 06: SGDR restarts, `cycle_mult`).
    """
    _, ax = plt.subplots(figsize=(6, 3))
    ax.plot(lrs)
    ax.set(xlabel='iteration', ylabel='learning rate')
    return ax
