"""Metrics, and how the Learner turns a model's raw outputs into predictions.

A metric is a plain function `metric(preds, targets) -> float`, called once per epoch on
the whole validation set. `preds` are what `Learner.get_preds` returns: log-probabilities
for single-label classification, probabilities for multi-label, raw outputs otherwise
(see `activation_for`). Write your own the same way and pass it in `metrics=[...]`.

>>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]).log(), torch.tensor([1, 1]))
0.5
"""
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['accuracy', 'error_rate', 'accuracy_multi', 'fbeta_multi', 'log_softmax', 'sigmoid',
           'raw', 'activation_for', 'default_loss', 'to_probs', 'metric_name']


def accuracy(preds, targets):
    """The share of items whose most likely class is the target (single-label).

    Args:
        preds: N x C scores (log-probabilities, probabilities or logits: only the argmax counts).
        targets: N class indices.
    Returns:
        a float in [0, 1].

    >>> accuracy(torch.tensor([[2., 1.], [0., 3.]]), torch.tensor([0, 0]))
    0.5

    Used in lessons 01, 04 and 07.
    """
    return (preds.argmax(dim=-1) == targets).float().mean().item()


def error_rate(preds, targets):
    """1 - accuracy: the share of items whose most likely class is wrong.

    >>> error_rate(torch.tensor([[2., 1.], [0., 3.]]), torch.tensor([0, 0]))
    0.5
    """
    return 1 - accuracy(preds, targets)


def accuracy_multi(preds, targets, thresh=0.5):
    """Multi-label accuracy: the share of (item, label) pairs predicted right.

    A label counts as predicted when its probability is above `thresh`.
    For another threshold: `metrics=[functools.partial(accuracy_multi, thresh=0.2)]`.

    Args:
        preds: N x C probabilities (sigmoid outputs).
        targets: N x C of 0/1.
    Returns:
        a float in [0, 1].

    >>> accuracy_multi(torch.tensor([[0.9, 0.2]]), torch.tensor([[1., 1.]]))
    0.5

    Used by `cnn_learner` as the default metric for multi-label data.
    """
    return ((preds > thresh) == targets.bool()).float().mean().item()


def fbeta_multi(preds, targets, beta=2.0, thresh=0.2, eps=1e-9):
    """F-beta score averaged over items (Kaggle Planet's F2 with beta=2).

    Args:
        preds: N x C probabilities; targets: N x C of 0/1.
        beta: weight of recall against precision (2: recall counts more).
        thresh: a label is predicted when its probability is above `thresh`.
    Returns:
        a float in [0, 1].

    >>> fbeta_multi(torch.tensor([[0.9, 0.1]]), torch.tensor([[1., 0.]]))
    1.0

    Used by `f2` (lesson 02).
    """
    predicted, actual = (preds > thresh).float(), targets.float()
    tp = (predicted * actual).sum(dim=1)
    precision = tp / (predicted.sum(dim=1) + eps)
    recall = tp / (actual.sum(dim=1) + eps)
    b2 = beta ** 2
    score = (1 + b2) * precision * recall / (b2 * precision + recall + eps)
    return score.mean().item()


def log_softmax(outputs):
    """Single-label predictions: log-probabilities over the last dimension."""
    return F.log_softmax(outputs.float(), dim=-1)


def sigmoid(outputs):
    """Multi-label predictions: one independent probability per label."""
    return torch.sigmoid(outputs.float())


def raw(outputs):
    """Regression (and anything else): the model's outputs as they are, in float32."""
    return outputs.float()


def activation_for(loss_func):
    """The rule that turns outputs into predictions, chosen from the loss.

    `CrossEntropyLoss` (or `F.cross_entropy`) -> `log_softmax`;
    `BCEWithLogitsLoss` (or `F.binary_cross_entropy_with_logits`) -> `sigmoid`;
    any other loss (MSE, a loss that already takes log-probabilities, ...) -> `raw`.

    >>> activation_for(nn.CrossEntropyLoss()).__name__
    'log_softmax'

    Used by the Learner (`Learner(..., pred_activation=...)` overrides it).
    """
    if isinstance(loss_func, nn.CrossEntropyLoss) or loss_func is F.cross_entropy:
        return log_softmax
    if (isinstance(loss_func, nn.BCEWithLogitsLoss)
            or loss_func is F.binary_cross_entropy_with_logits):
        return sigmoid
    return raw


def default_loss(dls):
    """The loss when none is given: from the data's `multi_label` and `classes` attributes.

    BCEWithLogitsLoss for multi-label data, CrossEntropyLoss for data with classes;
    otherwise (numbers to predict) it asks for one.

    Used by the Learner when it is given no `loss_func`, as by `cnn_learner`
    (lessons 01, 02 and 07).
    """
    if getattr(dls, 'multi_label', False):
        return nn.BCEWithLogitsLoss()
    if getattr(dls, 'classes', None) is not None:
        return nn.CrossEntropyLoss()
    raise ValueError('This data has no classes, so pass a loss function: for example '
                     'Learner(model, dls, loss_func=nn.MSELoss()) to predict numbers.')


def to_probs(preds, activation):
    """Predictions in probability space: `exp` of log-probabilities, the rest unchanged.

    >>> to_probs(torch.tensor([0.0]), log_softmax)
    tensor([1.])
    """
    return preds.exp() if activation is log_softmax else preds


def metric_name(metric):
    """The column name of a metric: its function name (also through functools.partial).

    >>> import functools
    >>> metric_name(functools.partial(accuracy_multi, thresh=0.2))
    'accuracy_multi'
    """
    func = getattr(metric, 'func', metric)
    return getattr(func, '__name__', type(func).__name__)
