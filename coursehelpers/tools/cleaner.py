"""Clean a labelled image folder: review the most suspicious images, delete or relabel them.

A model's highest-loss images are where it disagrees most with the labels: either
the model is wrong, or the label is (a cat filed under dogs), or the picture is no
use at all. `ImageCleaner` shows them with a choice under each image; "Apply" moves
the files on disk, so the next time you build the loaders they see the change.

Nothing is destroyed: "delete" moves the file into a `.deleted/` folder next to the
data (hidden from the loaders), from where it can be restored or removed for good.

>>> cleaner = ImageCleaner(*most_suspicious(dls.valid_ds, log_probs, y, k=4))  # doctest: +SKIP
>>> cleaner                                  # shows the widget        # doctest: +SKIP

Used in lesson 07.
"""
import shutil
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import torch

from ..vision.files import thumbnail_png
from .interpret import top_losses

__all__ = ['KEEP', 'DELETE', 'most_suspicious', 'cleaner_target', 'move_files', 'ImageCleaner']

KEEP, DELETE = '<keep>', '<delete>'


def most_suspicious(dataset, log_probs, targets, k=4):
    """The `k` highest-loss images of each class: (paths, labels, captions, classes).

    Args:
        dataset: an ImageDataset in the same order as `log_probs` (e.g. `dls.valid_ds`).
        log_probs, targets: from `learn.get_preds()`.
    Returns:
        (paths, labels, captions, classes): the labels are the current class names; the
        captions say the loss and what the model predicts.

    Used in lesson 07.
    """
    log_probs, targets = torch.as_tensor(log_probs).float(), torch.as_tensor(targets)
    classes, paths, labels, captions = dataset.classes, [], [], []
    for c, name in enumerate(classes):
        idx = (targets == c).nonzero().flatten()
        if len(idx) == 0:
            continue
        losses, order = top_losses(log_probs[idx], targets[idx], k)
        for loss, j in zip(losses.tolist(), idx[order].tolist()):
            pred = classes[int(log_probs[j].argmax())]
            paths.append(Path(dataset.paths[j]))
            labels.append(name)
            captions.append(f'{name}: loss {loss:.2f}, model says {pred} '
                            f'({log_probs[j].exp().max():.2f})')
    return paths, labels, captions, list(classes)


def _trash_for(path):
    """`<data>/.deleted/<split>/<class>/<name>` for `<data>/<split>/<class>/<name>`."""
    path = Path(path)
    return path.parents[2] / '.deleted' / path.parent.parent.name / path.parent.name / path.name


def _free_name(target):
    """`target`, or `target` with _1, _2... before the suffix if that name is taken."""
    n, candidate = 1, target
    while candidate.exists():
        candidate = target.with_name(f'{target.stem}_{n}{target.suffix}')
        n += 1
    return candidate


def cleaner_target(path, choice):
    """Where `move_files` puts `path` for `choice` (DELETE or a class name). The one check of a
    cleaner choice: a class name must be one plain folder name (no `/`, `..`, hidden name),
    so a choice can only move a file between the class folders of its split.
    """
    path = Path(path)
    if choice == DELETE:
        return _trash_for(path)
    name = str(choice)
    if (not name or name in ('.', '..') or name.startswith('.') or '/' in name or '\\' in name
            or '\0' in name):
        raise ValueError(f'{choice!r} is not a class name for {path}: a choice is DELETE or the '
                         f'name of one class folder (like those in {path.parent.parent}).')
    return path.parent.parent / name / path.name


def move_files(changes):
    """Apply `{path: DELETE or a class name}`: move each file; return a table of the moves.

    A class name moves `<split>/<old class>/x.jpg` to `<split>/<class>/x.jpg`; DELETE
    moves it to `<data>/.deleted/<split>/<old class>/x.jpg`. A name already taken at
    the destination gets a numbered suffix; nothing is overwritten.

    >>> move_files({Path('data/pets/train/dogs/cat.7.jpg'): 'cats'})     # doctest: +SKIP

    Used by `ImageCleaner.apply` (lesson 07).
    """
    rows = []
    changes = {Path(p): c for p, c in changes.items() if c != KEEP and c != Path(p).parent.name}
    for path, choice in changes.items():          # every choice checked before anything moves
        cleaner_target(path, choice)
    for path, choice in changes.items():
        if not path.is_file():
            raise FileNotFoundError(f'{path} is gone: was it moved already? Rebuild the cleaner '
                                    'from fresh predictions.')
        target = _free_name(cleaner_target(path, choice))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        rows.append((str(path), 'deleted' if choice == DELETE else f'relabelled {choice}',
                     str(target)))
    return pd.DataFrame(rows, columns=['file', 'action', 'now at'])


class ImageCleaner:
    """A grid of images, each with keep / delete / relabel; "Apply" moves the files.

    Args:
        paths, labels, captions, classes: what `most_suspicious` returns.
        thumb: thumbnail size in pixels.
    Attributes: `widget` (the ipywidgets box shown in the notebook), `dropdowns`
    (one per image), `status` (a label saying what the last apply did).

    >>> cleaner = ImageCleaner(*most_suspicious(dls.valid_ds, log_probs, y))  # doctest: +SKIP
    >>> cleaner.choose(0, 'dogs'); cleaner.apply()                           # doctest: +SKIP

    Used in lesson 07.
    """

    def __init__(self, paths, labels, captions, classes, thumb=150):
        self.paths, self.labels = [Path(p) for p in paths], list(labels)
        options = [KEEP, DELETE] + [c for c in classes]
        self.dropdowns = [widgets.Dropdown(options=options, value=KEEP,
                                           layout=widgets.Layout(width=f'{thumb + 10}px'))
                          for _ in self.paths]
        cells = [widgets.VBox([widgets.Image(value=thumbnail_png(p, thumb), format='png'),
                               widgets.HTML(f'<small>{cap}</small>',
                                            layout=widgets.Layout(width=f'{thumb + 10}px')),
                               dd])
                 for p, cap, dd in zip(self.paths, captions, self.dropdowns)]
        self.button = widgets.Button(description='Apply', button_style='warning')
        self.button.on_click(lambda _: self.apply())
        self.status = widgets.Label('Choose <delete> or another class under an image, then Apply.')
        self.widget = widgets.VBox([widgets.GridBox(cells, layout=widgets.Layout(
            grid_template_columns=f'repeat(4, {thumb + 20}px)')), self.button, self.status])

    def choose(self, i, choice):
        """Set image `i`'s choice (KEEP, DELETE or a class name), as the dropdown does."""
        self.dropdowns[i].value = choice

    def apply(self):
        """Move the files whose choice is not KEEP; return the table of moves."""
        changes = {p: dd.value for p, dd, lab in zip(self.paths, self.dropdowns, self.labels)
                   if dd.value not in (KEEP, lab) and p.exists()}
        moves = move_files(changes)
        for dd in self.dropdowns:
            if dd.value != KEEP:
                dd.disabled = True                       # that file has moved: no second apply
        self.status.value = (f'{len(moves)} files moved; rebuild the loaders to see the change.'
                             if len(moves) else 'Nothing to change.')
        return moves

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
