"""Layer groups: which parameters each group holds, its learning rate, whether it is frozen.

A pretrained CNN has three groups (two halves of the body, then the head). Frozen groups
get no gradients and their BatchNorm layers keep their running statistics; each group
can train at its own rate (differential learning rates).
"""
import numpy as np
from torch import nn

__all__ = ['find_layer_groups', 'group_parameters', 'group_lrs', 'freeze_groups',
           'frozen_batchnorm_eval']

BATCHNORM = nn.modules.batchnorm._BatchNorm        # the base class of BatchNorm1d, 2d and 3d


def find_layer_groups(model, layer_groups=None):
    """The groups to use: `layer_groups` if given, else `model.layer_groups()`, else [model]."""
    if layer_groups is None:
        layer_groups = model.layer_groups() if hasattr(model, 'layer_groups') else [model]
    return list(layer_groups)


def group_parameters(model, groups):
    """The parameters of each layer group (one that is in two groups counts in the first).

    Raises ValueError when some parameter of the model is in no group (it would never train).

    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> [len(ps) for ps in group_parameters(net, [net[0], net[1]])]
    [2, 2]
    """
    seen, params = set(), []
    for group in groups:
        params.append([p for p in group.parameters() if id(p) not in seen])
        seen.update(id(p) for p in params[-1])
    missing = [name for name, p in model.named_parameters() if id(p) not in seen]
    if missing:
        raise ValueError(f'{len(missing)} parameters of the model are in no layer group, for '
                         f'example {missing[:3]}: they would never train. Add the modules that '
                         'hold them to layer_groups.')
    return params


def group_lrs(lr, n):
    """One learning rate for each of `n` layer groups, first group first, as a numpy array.

    Args:
        lr: a number (every group the same), a list or array with one rate per group,
            or slice(lo, hi): rates spread geometrically from lo to hi
            (slice(hi): hi / 10 for every group but the last, which gets hi).
        n: the number of layer groups.

    >>> group_lrs(slice(1e-4, 1e-2), 3).tolist()
    [0.0001, 0.001, 0.01]

    Used by `Learner.group_lrs`.
    """
    if isinstance(lr, slice) and lr.start is None:
        lr = [lr.stop / 10] * (n - 1) + [lr.stop]
    elif isinstance(lr, slice):
        lr = np.geomspace(lr.start, lr.stop, n) if n > 1 else [lr.stop]
    lrs = np.asarray(lr, dtype=float)
    if lrs.ndim == 0:
        return np.full(n, float(lrs))
    if lrs.shape != (n,):
        raise ValueError(f'lr has {lrs.size} rates but this learner has {n} layer groups: '
                         f'give one number, or exactly {n} rates (first group first), for '
                         f'example {[10.0 ** (i - n - 1) for i in range(n)]}.')
    return lrs


def freeze_groups(group_params, n):
    """Freeze groups before `n` (requires_grad False), unfreeze the others.

    `n` may be negative, counted from the end (-1: only the last group trains).
    """
    count = len(group_params)
    first = n + count if n < 0 else n
    if not 0 <= first < count:
        raise ValueError(f'freeze_to({n}) needs a group index from {-count} to {count - 1}: '
                         f'this learner has {count} layer groups and at least one must train.')
    for i, params in enumerate(group_params):
        for p in params:
            p.requires_grad_(i >= first)


def frozen_batchnorm_eval(groups, group_params):
    """Put the BatchNorm layers of frozen groups in eval mode (call after `model.train()`).

    In eval mode BatchNorm normalises with its stored statistics and leaves them as they
    are, so a frozen pretrained body keeps the statistics it learned on ImageNet.
    """
    for group, params in zip(groups, group_params):
        if params and not any(p.requires_grad for p in params):
            for module in group.modules():
                if isinstance(module, BATCHNORM):
                    module.eval()
