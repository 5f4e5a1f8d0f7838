"""Showing images: a grid of tensors, a mini-batch, what augmentation does to one photo."""
import math

import matplotlib.pyplot as plt

from .data import label_text
from .files import open_image
from .transforms import denormalize

__all__ = ['show_images', 'show_batch']


def show_images(images, titles=None, ncols=3, size=3, title=None):
    """Show image tensors (3 x H x W, values in [0, 1]) in a grid and return the figure.

    `titles` go over each image, `title` over the whole figure. The layout is matplotlib's
    constrained layout, which makes room for both, so they never overlap.

    >>> show_images([denormalize(x[0], *dls.stats)], ['cats'], title='one cat')  # doctest: +SKIP

    Used in lesson 02 and by `show_batch`, `plot_predictions` and `plot_top_losses`.
    """
    images = list(images)
    titles = list(titles) if titles is not None else [''] * len(images)
    nrows = max(1, math.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False,
                             layout='constrained')
    for ax in axes.flat:
        ax.axis('off')
    for ax, img, text in zip(axes.flat, images, titles):
        ax.imshow(img.permute(1, 2, 0).cpu().numpy())     # H x W x 3 for matplotlib
        ax.set_title(text, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def show_batch(dls, n=9, ds='train', ncols=3, augmented=False):
    """Show `n` images of one mini-batch of split `ds`, denormalised and titled by label(s).

    Args:
        dls: ImageDataLoaders.
        n: how many images (at most one batch).
        ds: 'train', 'valid' or 'test'.
        augmented: for the first image of `ds`, show `n` random augmentations instead
            (what the network sees of one photo over `n` epochs).
    Returns:
        the matplotlib figure.

    >>> show_batch(dls, n=9)                          # doctest: +SKIP
    >>> show_batch(dls, n=6, augmented=True)          # doctest: +SKIP

    Used in lessons 01 and 02.
    """
    dataset = dls.loader(ds).dataset
    if augmented:
        x = [dls.train_tfm(open_image(dataset.paths[0])) for _ in range(n)]
        return show_images([denormalize(t, *dls.stats) for t in x], [dataset.label(0)] * n, ncols,
                           title=f'{n} random augmentations of {dataset.paths[0].name}')
    x, y = dls.one_batch(ds)
    titles = [label_text(t, dls.classes, dls.multi_label) for t in y[:n]]
    return show_images(denormalize(x[:n], *dls.stats), titles, ncols)
