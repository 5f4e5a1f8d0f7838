"""Figures with a title over a grid of titled images: the figure's title must not cover theirs.

Each figure is drawn with the Agg backend and the real extents of its texts are compared,
as JupyterLab would draw them.
"""
import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from coursehelpers.tools import plot_predictions, plot_top_losses
from coursehelpers.vision import ImageDataLoaders, show_batch, show_images, side_on_tfms

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


@pytest.fixture(scope='module')
def dls(tmp_path_factory):
    """Photos of different shapes (wide, tall, square), like real ones: two classes."""
    root = tmp_path_factory.mktemp('shapes')
    rng = np.random.default_rng(0)
    shapes = [(60, 90), (90, 60), (70, 70), (50, 100), (100, 50), (80, 80)]
    for split in ('train', 'valid'):
        for c, name in enumerate(('cats', 'dogs')):
            (root / split / name).mkdir(parents=True)
            for i, (h, w) in enumerate(shapes):
                px = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
                px[..., 2 * c] += 160
                Image.fromarray(px).save(root / split / name / f'{name}{i}.png')
    return ImageDataLoaders.from_folder(root, size=64, bs=4, tfms=side_on_tfms, num_workers=0)


def overlaps(fig):
    """The axes titles (and axes) that the figure's title covers, drawn by a real renderer."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    top = fig._suptitle
    assert top is not None and top.get_text(), 'this figure has no title to check'
    box = top.get_window_extent(renderer)
    hits = [f'title {ax.get_title()!r}' for ax in fig.axes
            if ax.get_title() and box.overlaps(ax.title.get_window_extent(renderer))]
    hits += [f'axes {i}' for i, ax in enumerate(fig.axes)
             if ax.get_visible() and ax.images and box.overlaps(ax.get_window_extent(renderer))]
    plt.close(fig)
    return hits


def predictions(dls):
    n = len(dls.valid_ds)
    log_probs = torch.log_softmax(torch.randn(n, 2, generator=torch.Generator().manual_seed(0)), 1)
    return log_probs, torch.as_tensor(dls.valid_ds.targets)


@pytest.mark.parametrize('n', [3, 4, 6, 9])
def test_the_top_losses_title_leaves_the_image_titles_alone(dls, n):
    log_probs, y = predictions(dls)
    fig = plot_top_losses(dls.valid_ds, log_probs, y, dls.classes, k=n)
    assert overlaps(fig) == []


@pytest.mark.parametrize('idxs', [[0, 1, 2, 3], [4], [5, 6, 7]])
def test_the_predictions_title_leaves_the_image_titles_alone(dls, idxs):
    log_probs, _ = predictions(dls)
    fig = plot_predictions(dls.valid_ds, idxs, log_probs.exp(), dls.classes, 'random correct')
    assert overlaps(fig) == []


def test_the_augmentation_grid_says_what_it_shows_without_covering_it(dls):
    fig = show_batch(dls, n=9, augmented=True)
    assert '9 random augmentations' in fig._suptitle.get_text()
    assert overlaps(fig) == []


def test_a_grid_with_a_long_title_over_a_single_row(dls):
    images = [torch.rand(3, 40, 90) for _ in range(3)]
    fig = show_images(images, ['a', 'b', 'c'], ncols=3, title='a title a little longer than most')
    assert overlaps(fig) == []
