"""Looking at what a classifier got right and wrong.

Every function works on plain tensors: `probs` (N x C probabilities, or
log-probabilities turned into probabilities with `.exp()`) and `targets`
(N class indices) in dataset order, as `learn.get_preds()` returns them.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from ..vision.files import open_image
from ..vision.show import show_images

__all__ = ['pick', 'plot_predictions', 'confusion_matrix', 'plot_confusion_matrix', 'top_losses',
           'plot_top_losses']


def pick(probs, targets, kind, cls=None, n=4, seed=42):
    """Return the indices of up to `n` items of one kind.

    kind: 'correct' / 'incorrect' (a seeded random choice), 'most_correct' /
    'most_incorrect' (items whose true class is `cls`, most confident first;
    'most_incorrect' are the ones the model was surest were something else),
    or 'uncertain' (smallest gap between the two highest probabilities: for two
    classes, p closest to 0.5).

    >>> pick(torch.tensor([[.9, .1], [.4, .6]]), torch.tensor([0, 0]), 'incorrect')
    tensor([1])

    Used in lesson 01.
    """
    probs, targets = torch.as_tensor(probs).float(), torch.as_tensor(targets)
    correct = probs.argmax(1) == targets
    if kind in ('correct', 'incorrect'):
        idx = torch.nonzero(correct if kind == 'correct' else ~correct).flatten()
        order = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))
        return idx[order[:n]]
    if kind in ('most_correct', 'most_incorrect'):
        if cls is None:
            raise ValueError(f"pick(..., '{kind}') needs the class index: cls=0, 1, ...")
        mask = (targets == cls) & (correct if kind == 'most_correct' else ~correct)
        idx = torch.nonzero(mask).flatten()
        p = probs[idx, cls]
        order = p.argsort(descending=(kind == 'most_correct'))
        return idx[order[:n]]
    if kind == 'uncertain':
        top2 = probs.topk(min(2, probs.shape[1]), dim=1).values
        gap = top2[:, 0] - top2[:, -1]
        return gap.argsort()[:n]
    raise ValueError(f"Unknown kind {kind!r}: use 'correct', 'incorrect', 'most_correct', "
                     "'most_incorrect' or 'uncertain'.")


def plot_predictions(dataset, idxs, probs, classes, title='', size=224):
    """Show the images `idxs` of `dataset` (which has `.paths`), each titled with its probability.

    With two classes the title is p(second class), as in the lesson's p(dog);
    with more, the predicted class and its probability. Returns the figure, or
    None (with a message) when `idxs` is empty.

    Used in lesson 01.
    """
    idxs = [int(i) for i in idxs]
    if not idxs:
        print(f'{title}: no such images')
        return None
    probs = torch.as_tensor(probs).float()
    images = []
    for i in idxs:
        img = open_image(dataset.paths[i])
        img.thumbnail((size, size))
        images.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1) / 255)
    if len(classes) == 2:
        titles = [f'p({classes[1]})={probs[i, 1]:.3f}' for i in idxs]
    else:
        titles = [f'{classes[probs[i].argmax()]} {probs[i].max():.3f}' for i in idxs]
    return show_images(images, titles, ncols=len(idxs), title=title)


def confusion_matrix(preds, targets, n_classes):
    """An n_classes x n_classes tensor: row = true class, column = predicted class."""
    cm = torch.zeros(n_classes, n_classes, dtype=torch.long)
    for t, p in zip(torch.as_tensor(targets).tolist(), torch.as_tensor(preds).tolist()):
        cm[t, p] += 1
    return cm


def plot_confusion_matrix(probs, targets, classes):
    """Plot the confusion matrix of predictions `probs.argmax(1)` against `targets`; return it.

    Used in lesson 01.
    """
    cm = confusion_matrix(torch.as_tensor(probs).argmax(1), targets, len(classes))
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 2))
    ax.imshow(cm, cmap='Blues')
    ax.set_xticks(range(len(classes)), classes, rotation=45)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel('predicted')
    ax.set_ylabel('actual')
    for (r, c), v in np.ndenumerate(cm.numpy()):
        ax.text(c, r, str(v), ha='center', va='center',
                color='white' if v > cm.max() / 2 else 'black')
    plt.show()
    return cm


def top_losses(log_probs, targets, k=9):
    """The `k` largest per-item losses (negative log-probability of the true class) and their indices."""
    losses = -torch.as_tensor(log_probs).float().gather(1, torch.as_tensor(targets)[:, None]).flatten()
    return losses.topk(min(k, len(losses)))


def plot_top_losses(dataset, log_probs, targets, classes, k=9):
    """Show the `k` images with the largest loss, titled predicted / actual / loss / p(actual).

    Used in lesson 01.
    """
    losses, idxs = top_losses(log_probs, targets, k)
    probs = torch.as_tensor(log_probs).float().exp()
    images, titles = [], []
    for loss, i in zip(losses.tolist(), idxs.tolist()):
        img = open_image(dataset.paths[i])
        img.thumbnail((224, 224))
        images.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1) / 255)
        t = int(targets[i])
        titles.append(f'{classes[int(probs[i].argmax())]}/{classes[t]} {loss:.2f} {probs[i, t]:.2f}')
    return show_images(images, titles, ncols=min(3, len(images)) or 1,
                       title='predicted / actual / loss / p(actual)')
