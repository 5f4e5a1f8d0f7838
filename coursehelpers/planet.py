"""Multi-label images (lesson 02, Planet): the F2 metric with its threshold, a model summary,
and the Kaggle submission file.

The F2 score itself is `metrics.fbeta_multi` (beta = 2, averaged over images); this module
adds what the lesson does around it: pick the probability threshold that maximises it,
look inside a model layer by layer, and write predictions in the competition's format.

>>> probs, y = learn.tta()                              # doctest: +SKIP
>>> score, thresh = f2_search(probs, y)                 # doctest: +SKIP
"""
import csv
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .metrics import fbeta_multi

__all__ = ['f2', 'f2_search', 'THRESHOLDS', 'model_summary', 'predicted_tags',
           'write_submission']

THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.17, 0.245, 0.01))   # 0.17, 0.18, ..., 0.24


def f2(preds, targets, thresh=0.2):
    """Kaggle Planet's metric: F-beta with beta = 2, averaged over images (samples average).

    A tag counts as predicted when its probability is above `thresh`. Recall weighs four
    times as much as precision: missing a tag costs more than adding a wrong one.
    A plain metric function, so `cnn_learner(dls, arch, metrics=[f2])` prints it each epoch.

    Args:
        preds: N x C probabilities (sigmoid outputs); targets: N x C of 0/1.
        thresh: the probability above which a tag is predicted.
    Returns:
        a float in [0, 1].

    >>> f2(torch.tensor([[0.9, 0.3, 0.1]]), torch.tensor([[1., 0., 0.]]))   # one wrong extra tag
    0.8333333134651184

    Used in lesson 02.
    """
    return fbeta_multi(preds, targets, beta=2.0, thresh=thresh)


def f2_search(preds, targets, thresholds=THRESHOLDS):
    """Try each threshold and return the best F2 and the threshold that gives it.

    The lesson's search runs over 0.17 to 0.24 in steps of 0.01; on a tie the lower
    threshold wins. Choose the threshold on the validation set, then use it on the test set.

    Args:
        preds: N x C probabilities; targets: N x C of 0/1.
        thresholds: the thresholds to try.
    Returns:
        (best F2, its threshold) as two floats.

    >>> f2_search(torch.tensor([[0.9, 0.18]]), torch.tensor([[1., 1.]]))
    (1.0, 0.17)

    Used in lesson 02.
    """
    if len(thresholds) == 0:
        raise ValueError('f2_search needs at least one threshold to try, got none.')
    scores = [(f2(preds, targets, t), -t) for t in thresholds]
    best, neg_t = max(scores)
    return best, float(-neg_t)


def model_summary(model, x):
    """Run one batch `x` through `model` and list every layer: output shape and parameters.

    A forward hook on each leaf module (one without sub-modules) records the shape of
    what it returns; nothing is trained and the model's mode is restored afterwards.

    Args:
        model: an `nn.Module` (for example `learn.model`).
        x: one input batch on the model's device, e.g. `x, y = dls.one_batch()`.
    Returns:
        a DataFrame with columns `layer` (its name in the model), `type`, `output_shape`,
        `params` and `trainable` (parameters that are not frozen), in the order they ran.

    >>> model_summary(learn.model, x.to(learn.device)).tail()     # doctest: +SKIP

    Used in lesson 02.
    """
    rows, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            params = list(module.parameters(recurse=False))
            rows.append({'layer': name, 'type': type(module).__name__,
                         'output_shape': tuple(out.shape) if torch.is_tensor(out) else None,
                         'params': sum(p.numel() for p in params),
                         'trainable': sum(p.numel() for p in params if p.requires_grad)})
        return hook

    for name, module in model.named_modules():
        if _is_leaf(module):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return pd.DataFrame(rows, columns=['layer', 'type', 'output_shape', 'params', 'trainable'])


def predicted_tags(probs, classes, thresh):
    """The tags whose probability is above `thresh`, one space-joined string per image.

    >>> predicted_tags(torch.tensor([[0.9, 0.1, 0.3]]), ['clear', 'haze', 'primary'], 0.2)
    ['clear primary']

    Used in lesson 02.
    """
    probs = torch.as_tensor(probs)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f'Expected probabilities of shape N x {len(classes)} (one column per '
                         f'class), got {tuple(probs.shape)}. Pass the sigmoid outputs of '
                         'learn.get_preds() or learn.tta() and dls.classes.')
    return [' '.join(classes[j] for j in torch.nonzero(row > thresh).flatten().tolist())
            for row in probs]


def write_submission(probs, paths, classes, thresh, file):
    """Write a Kaggle Planet submission: a header `image_name,tags`, then one row per image.

    `image_name` is the file name without its extension (`train_7`, `test_0`, `file_10`);
    `tags` are the predicted tags, space-joined (see `predicted_tags`).

    Args:
        probs: N x C probabilities, in the order of `paths`.
        paths: the N image paths (for example `dls.test_ds.paths`).
        classes: the C tag names (`dls.classes`).
        thresh: the threshold chosen on the validation set (see `f2_search`).
        file: where to write the CSV (under the data root, never the data mirror).
    Returns:
        the Path written.

    >>> write_submission(probs, dls.test_ds.paths, dls.classes, 0.2,
    ...                  data_root() / 'planet_submission.csv')        # doctest: +SKIP

    Used in lesson 02.
    """
    tags = predicted_tags(probs, classes, thresh)
    if len(tags) != len(paths):
        raise ValueError(f'{len(tags)} rows of predictions for {len(paths)} images: they must '
                         'come from the same split, in the same order.')
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['image_name', 'tags'])
        writer.writerows([Path(p).stem, t] for p, t in zip(paths, tags))
    return file


def _is_leaf(module: nn.Module):
    """True for a module without sub-modules (a layer that computes something itself)."""
    return not list(module.children())
