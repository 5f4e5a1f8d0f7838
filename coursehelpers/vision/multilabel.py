"""Multi-label images (lesson 02, Planet): the F2 metric, its threshold, the predicted tags.

The F2 score itself is `fbeta_multi` (beta = 2, averaged over images, in
`training/metrics.py`); this module adds what the lesson does around it: pick the
probability threshold that maximises it, and turn probabilities into tags.

>>> probs, y = learn.tta()                              # doctest: +SKIP
>>> score, thresh = f2_search(probs, y)                 # doctest: +SKIP
"""
import numpy as np
import torch

from ..training.metrics import fbeta_multi

__all__ = ['f2', 'f2_search', 'THRESHOLDS', 'predicted_tags']

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


def predicted_tags(probs, classes, thresh):
    """The tags whose probability is above `thresh`, one space-joined string per image.

    >>> predicted_tags(torch.tensor([[0.9, 0.1, 0.3]]), ['clear', 'haze', 'primary'], 0.2)
    ['clear primary']

    Used by `write_submission` (lesson 02).
    """
    probs = torch.as_tensor(probs)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f'Expected probabilities of shape N x {len(classes)} (one column per '
                         f'class), got {tuple(probs.shape)}. Pass the sigmoid outputs of '
                         'learn.get_preds() or learn.tta() and dls.classes.')
    return [' '.join(classes[j] for j in torch.nonzero(row > thresh).flatten().tolist())
            for row in probs]
