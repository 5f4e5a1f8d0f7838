"""Image data for the Learner: a dataset, splitters, a small data block and `ImageDataLoaders`.

Three layers, as in fastai: `ImageDataLoaders.from_folder` / `.from_csv` (one line in a
lesson) are built on `DataBlock` (say how to find items, label and split them), which
builds plain PyTorch `Dataset`s and `DataLoader`s.
"""
import os
import random
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..training.loaders import DataLoaders
from .device_decode import DeviceJpegLoader, device_decodes
from .memory import ChipLoader, decode_chips, fits_in_memory
from .transforms import IMAGENET_STATS, ImageTransform, side_on_tfms, valid_tfms
from .files import (check_readable, labelled_csv_rows, labelled_folder_files,
                    open_image, unlabelled_folder_files)

__all__ = ['ImageDataset', 'DataBlock', 'ImageDataLoaders', 'parent_label', 'folder_splitter',
           'random_splitter', 'index_splitter', 'default_workers', 'make_targets', 'label_text']


class ImageDataset(Dataset):
    """Image files with their targets; item i is `(tfm(image), target)`.

    `targets` is an int64 tensor of class indices (single-label), an N x C float
    tensor of 0/1 (multi-label), or None for an unlabelled test set (then the
    target is -1, or all zeros for multi-label).

    >>> x, y = dls.train_ds[0]                      # doctest: +SKIP
    >>> x.shape, dls.classes[y]                     # doctest: +SKIP
    (torch.Size([3, 224, 224]), 'cats')

    Used by `ImageDataLoaders.from_folder` (lessons 01 and 07) and
    `ImageDataLoaders.from_csv` (lesson 02).
    """

    def __init__(self, paths, targets, classes, tfm, multi_label=False, pixels=None):
        self.paths = list(paths)
        self.targets = targets
        self.classes = list(classes)
        self.tfm = tfm
        self.multi_label = multi_label
        self.pixels = pixels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.tfm(open_image(self.paths[i])), self.target(i)

    def target(self, i):
        """The target of item i (a placeholder when the set has no labels)."""
        if self.targets is not None:
            return self.targets[i]
        return torch.zeros(len(self.classes)) if self.multi_label else torch.tensor(-1)

    def label(self, i):
        """The label of item i in words: 'dogs', or 'haze;primary' for multi-label."""
        return label_text(self.target(i), self.classes, self.multi_label)

    def with_tfm(self, tfm):
        """The same items, targets and decoded images with another transform."""
        return ImageDataset(self.paths, self.targets, self.classes, tfm, self.multi_label,
                            self.pixels)

    def decoded(self, size, device='cpu'):
        """Every image decoded once, resized and centre-cropped as for validation: a uint8 tensor
        N x 3 x size x size (`decode_chips`) on `device`, kept in `self.pixels` for the next call.

        Used by `ImageDataLoaders.from_csv` (lesson 02, `in_memory=True`).
        """
        if self.pixels is None or self.pixels.shape[-1] != size:
            self.pixels = decode_chips(self.paths, size)
        self.pixels = self.pixels.to(device)              # moved once; a no-op after that
        return self.pixels


def label_text(y, classes, multi_label):
    """A target tensor in words ('' for an unlabelled item)."""
    if multi_label:
        return ';'.join(classes[j] for j in torch.nonzero(y).flatten().tolist())
    return classes[int(y)] if int(y) >= 0 else ''


def parent_label(path):
    """The name of the folder a file sits in: its label in `train/<class>/` layouts.

    >>> parent_label('data/dogscats/train/dogs/dog.1.jpg')
    'dogs'

    Used by `ImageDataLoaders.from_folder` (lessons 01 and 07).
    """
    return Path(path).parent.name


def folder_splitter(train='train', valid='valid'):
    """Split file paths by the name of their class folder's parent: `train/<class>/x.jpg`.

    Returns:
        a function items -> (train indices, valid indices).

    >>> folder_splitter()(['p/train/cats/a.jpg', 'p/valid/cats/b.jpg'])
    ([0], [1])

    Used by `ImageDataLoaders.from_folder` (lessons 01 and 07).
    """
    def split(items):
        where = [Path(p).parent.parent.name for p in items]
        lost = [p for p, w in zip(items, where) if w not in (train, valid)]
        if lost:
            raise ValueError(f'{len(lost)} items are neither in {train}/<class>/ nor in '
                             f'{valid}/<class>/, for example {lost[0]}.')
        return ([i for i, w in enumerate(where) if w == train],
                [i for i, w in enumerate(where) if w == valid])
    return split


def random_splitter(valid_pct=0.2, seed=42):
    """Split at random: `valid_pct` of the items go to validation; the same seed, the same split.

    >>> random_splitter(0.5, seed=0)(list('abcd'))
    ([0, 2], [1, 3])

    Used by `ImageDataLoaders.from_csv` (lesson 02).
    """
    def split(items):
        n_valid = round(len(items) * valid_pct)
        valid = set(random.Random(seed).sample(range(len(items)), n_valid))
        return [i for i in range(len(items)) if i not in valid], sorted(valid)
    return split


def index_splitter(valid_idx):
    """Split by explicit positions: items at `valid_idx` are validation, the others training.

    >>> index_splitter([1])(list('abc'))
    ([0, 2], [1])

    Used by `ImageDataLoaders.from_csv` when it is given `valid_idx`.
    """
    def split(items):
        valid = sorted(set(int(i) for i in valid_idx))
        if valid and (valid[0] < 0 or valid[-1] >= len(items)):
            raise IndexError(f'valid_idx must be positions 0..{len(items) - 1}; '
                             f'got {valid[0]}..{valid[-1]}.')
        chosen = set(valid)
        return [i for i in range(len(items)) if i not in chosen], valid
    return split


def default_workers():
    """DataLoader worker processes: 0 on machines with 1-2 cores, else cores - 1, at most 8, or
    at most 16 beside a GPU, which needs them all to feed it (15 on the 16-core H200 machine)."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(16 if torch.cuda.is_available() else 8, cores - 1)


class DataBlock:
    """Say how to find, label and split images; `dataloaders(source)` builds them.

    Args:
        get_items: function source -> list of items (None: the source is the list).
        get_label: function item -> a label (str) or a list of labels; any item with
            several labels makes the data multi-label.
        splitter: function items -> (train indices, valid indices), e.g. `random_splitter()`.
        get_x: function item -> image path (default: the item is the path).
        size: image side in pixels after the transforms.
        tfms: function (size, stats) -> training transform, e.g. `top_down_tfms`;
            None trains without augmentation. Validation always uses `valid_tfms`.
        stats: (mean, std) of the pretrained model (see `model_stats`).

    >>> block = DataBlock(get_image_files, parent_label, folder_splitter(),
    ...                   size=64)                       # doctest: +SKIP
    >>> dls = block.dataloaders(path, bs=32)             # doctest: +SKIP

    Used by `ImageDataLoaders.from_folder` (lessons 01 and 07) and
    `ImageDataLoaders.from_csv` (lesson 02).
    """

    def __init__(self, get_items, get_label, splitter, get_x=None, size=224,
                 tfms=side_on_tfms, stats=IMAGENET_STATS):
        self.get_items, self.get_label, self.splitter = get_items, get_label, splitter
        self.get_x = get_x
        self.size, self.tfms, self.stats = size, tfms, stats

    def datasets(self, source, check=True):
        """Return (train, valid) `ImageDataset`s; `check` reads every image header first."""
        items = list(self.get_items(source) if self.get_items else source)
        if not items:
            raise ValueError(f'No items found in {source}.')
        paths = [Path(self.get_x(it) if self.get_x else it) for it in items]
        if check:
            check_readable(paths)
        classes, targets, multi = make_targets([self.get_label(it) for it in items])
        train_idx, valid_idx = self.splitter(items)
        if not train_idx or not valid_idx:
            raise ValueError(f'The split gave {len(train_idx)} training and {len(valid_idx)} '
                             'validation items; both need at least one.')
        train_tfm = self.tfms(self.size, self.stats) if self.tfms else self.valid_tfm()
        return (ImageDataset([paths[i] for i in train_idx], targets[train_idx], classes,
                             train_tfm, multi),
                ImageDataset([paths[i] for i in valid_idx], targets[valid_idx], classes,
                             self.valid_tfm(), multi))

    def valid_tfm(self):
        """The transform for validation and test images."""
        return valid_tfms(self.size, self.stats)

    def dataloaders(self, source, bs=64, test_items=None, num_workers=None, check=True,
                    in_memory=False):
        """Build `ImageDataLoaders` (train shuffled; valid and optional unlabelled test in order).

        Args:
            source: what `get_items` reads (a folder, a table...).
            bs: batch size.
            test_items: image paths of an unlabelled test set, or None.
            num_workers: loader processes (default `default_workers()`).
            check: read every image header first, to name broken files up front.
            in_memory: decode every image once and augment whole batches (see
                `ImageDataLoaders`).
        """
        train_ds, valid_ds = self.datasets(source, check=check)
        test_ds = None
        if test_items is not None:
            test_paths = [Path(p) for p in test_items]
            if check:
                check_readable(test_paths)
            test_ds = ImageDataset(test_paths, None, train_ds.classes, self.valid_tfm(),
                                   train_ds.multi_label)
        return ImageDataLoaders(train_ds, valid_ds, test_ds, bs=bs, num_workers=num_workers,
                                stats=self.stats, size=self.size, in_memory=in_memory)


def make_targets(labels):
    """Turn labels (str, or lists of str) into (sorted classes, target tensor, multi_label).

    Multi-label when any item has several labels: targets are then an N x C
    multi-hot float tensor; otherwise int64 class indices.

    >>> make_targets(['dogs', 'cats', 'dogs'])
    (['cats', 'dogs'], tensor([1, 0, 1]), False)
    """
    labels = [lab if isinstance(lab, (list, tuple)) else [lab] for lab in labels]
    multi = any(len(lab) > 1 for lab in labels)
    classes = sorted({c for lab in labels for c in lab})
    index = {c: i for i, c in enumerate(classes)}
    if multi:
        targets = torch.zeros(len(labels), len(classes))
        for row, lab in enumerate(labels):
            targets[row, [index[c] for c in lab]] = 1.0
        return classes, targets, True
    empty = [i for i, lab in enumerate(labels) if not lab]
    if empty:
        raise ValueError(f'{len(empty)} items have no label (the first is item {empty[0]}).')
    return classes, torch.tensor([index[lab[0]] for lab in labels]), False


class ImageDataLoaders(DataLoaders):
    """Training, validation and optional test loaders of images, with what the Learner needs.

    Attributes: `train`, `valid`, `test` (DataLoaders; `test` may be None), `train_ds`,
    `valid_ds`, `test_ds`, `classes`, `multi_label`, `batch_size`, `stats` (mean, std)
    and `train_tfm` (the augmentation, reused by `augmented` for TTA).
    Memory is pinned only when CUDA is available.

    With `in_memory=True` (and `size`), every image is decoded once into memory, resized and
    cropped as for validation (each dataset keeps its own: `ImageDataset.decoded`), and the
    loaders are `ChipLoader`s: each training mini-batch is augmented as a whole by
    `batch_augment`, from the same `Augmentation` as `train_tfm` (non-square images lose the
    random crop along their long side). For small images that removes most of an epoch's
    loading time (lesson 02's resize cache). When the images would take more than `max_mb`
    megabytes (default: a quarter of the RAM, and of a GPU's memory), it says so and loads them one by one (`in_memory` is then False).
    The datasets are the same either way (`dls.train_ds[0]` uses the per-image transforms).
    On a GPU, folders of JPEGs are decoded and augmented there a batch at a time
    (`device_decode.DeviceJpegLoader`; `COURSE_DEVICE_DECODE=0` turns it off).

    >>> dls = ImageDataLoaders.from_folder(path, size=224, bs=64)    # doctest: +SKIP
    >>> dls.classes                                                   # doctest: +SKIP
    ['cats', 'dogs']

    Used in lessons 01, 02 and 07.
    """

    def __init__(self, train_ds, valid_ds, test_ds=None, bs=64, num_workers=None,
                 stats=IMAGENET_STATS, size=None, in_memory=False, max_mb=None):
        self.train_ds, self.valid_ds, self.test_ds = train_ds, valid_ds, test_ds
        self.classes = train_ds.classes
        self.multi_label = train_ds.multi_label
        self.batch_size = bs
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.stats, self.size = stats, size
        self.train_tfm = train_ds.tfm
        splits = [ds for ds in (train_ds, valid_ds, test_ds) if ds is not None]
        self.in_memory = in_memory and _batch_augmentable(self.train_tfm) and fits_in_memory(
            splits, size, max_mb)
        self.device_decode = (not self.in_memory and bool(size) and device_decodes()
                              and isinstance(self.train_tfm, ImageTransform))   # on a GPU
        # drop a last partial batch (BatchNorm fails on a batch of 1) only when a full one exists
        self.train = self._loader(train_ds, shuffle=True, drop_last=len(train_ds) > bs,
                                  augment=True)
        self.valid = self._loader(valid_ds)
        self.test = self._loader(test_ds) if test_ds is not None else None

    def _loader(self, ds, shuffle=False, drop_last=False, augment=False):
        """A loader over `ds`. In memory, `augment` applies the training augmentation to each
        batch; otherwise each item goes through the dataset's own transform."""
        if self.in_memory:
            return ChipLoader(ds, self.size, self.stats, self.batch_size, shuffle, drop_last,
                              self.train_tfm.augment if augment else None)
        if self.device_decode:
            return DeviceJpegLoader(ds, self.size, self.stats, self.batch_size, shuffle, drop_last,
                                    self.train_tfm.augment if augment else None, self.num_workers)
        return DataLoader(ds, batch_size=self.batch_size, shuffle=shuffle, drop_last=drop_last,
                          num_workers=self.num_workers, pin_memory=torch.cuda.is_available(),
                          persistent_workers=self.num_workers > 0,
                          prefetch_factor=4 if self.num_workers else None)

    def loader(self, ds):
        """The loader of split `ds`: 'train', 'valid' or 'test'."""
        if ds not in ('train', 'valid', 'test'):
            raise ValueError(f"ds must be 'train', 'valid' or 'test', not {ds!r}.")
        if ds == 'test' and self.test is None:
            raise ValueError('These loaders have no test set: pass test= (a folder of images) '
                             'when you build them.')
        return getattr(self, ds)

    def augmented(self, ds):
        """A loader over split `ds` in dataset order, with the training augmentation (for TTA)."""
        dataset = self.loader(ds).dataset
        if self.in_memory or self.device_decode:
            return self._loader(dataset, augment=True)
        return self._loader(dataset.with_tfm(self.train_tfm))

    def one_batch(self, ds='train'):
        """The first mini-batch `(x, y)` of split `ds`.

        >>> x, y = dls.one_batch()           # doctest: +SKIP
        >>> x.shape, y.shape                 # doctest: +SKIP
        (torch.Size([64, 3, 224, 224]), torch.Size([64, 17]))
        """
        return next(iter(self.loader(ds)))

    def __repr__(self):
        splits = (('train', self.train_ds), ('valid', self.valid_ds), ('test', self.test_ds))
        sizes = ', '.join(f'{name}={len(ds)}' for name, ds in splits if ds is not None)
        kind = 'multi-label' if self.multi_label else 'single-label'
        memory = ', in memory' if self.in_memory else ''
        return (f'ImageDataLoaders({sizes}, bs={self.batch_size}, '
                f'{len(self.classes)} classes, {kind}{memory})')

    @classmethod
    def from_folder(cls, path, train='train', valid='valid', test=None, size=224, bs=64,
                    tfms=side_on_tfms, stats=IMAGENET_STATS, num_workers=None, in_memory=False):
        """Loaders from a folder laid out `path/train/<class>/*.jpg`, `path/valid/<class>/*.jpg`.

        The folder name is the label; classes are sorted (cats = 0, dogs = 1).

        Args:
            path: the data set folder.
            train, valid: names of its training and validation folders.
            test: name of a folder of unlabelled images, or None.
            size, bs: image side and batch size.
            tfms: augmentation, a function (size, stats) such as `side_on_tfms`, or None.
            stats: (mean, std) of the pretrained model, e.g. `model_stats('resnet34')`.
            num_workers: loader processes (default `default_workers()`).
            in_memory: decode every image once and augment whole batches (see the class).
        Returns:
            ImageDataLoaders.

        >>> dls = ImageDataLoaders.from_folder(get_data('dogscats'), size=224)  # doctest: +SKIP

        Used in lessons 01 and 07.
        """
        path = Path(path)
        layout = f'{path}/{train}/<class>/*.jpg and {path}/{valid}/<class>/*.jpg'
        items = (labelled_folder_files(path / train, layout)
                 + labelled_folder_files(path / valid, layout))
        block = DataBlock(None, parent_label, folder_splitter(train, valid), size=size,
                          tfms=tfms, stats=stats)
        test_items = unlabelled_folder_files(path / test) if test else None
        return block.dataloaders(items, bs=bs, test_items=test_items, num_workers=num_workers,
                                 in_memory=in_memory)

    @classmethod
    def from_csv(cls, path, csv='labels.csv', folder='train', suffix='.jpg', label_delim=' ',
                 valid_pct=0.2, seed=42, valid_idx=None, fn_col=0, label_col=1, test=None,
                 size=224, bs=64, tfms=side_on_tfms, stats=IMAGENET_STATS, num_workers=None,
                 in_memory=False):
        """Loaders from a CSV of file names and labels, e.g. Planet's `image_name,tags`.

        Labels holding `label_delim` are split into several tags; any row with several
        tags makes the data multi-label (targets are multi-hot vectors). The validation
        set is `valid_idx` (row positions) or a seeded random `valid_pct` of the rows.

        Args:
            path: the data set folder; `csv` and `folder` are relative to it (or absolute,
                e.g. a `resize_images` cache).
            suffix: added to each file name that lacks it.
            fn_col, label_col: the file-name and label columns, by position or name.
            test: folder of unlabelled images, or None.
            in_memory: decode every image once and augment whole batches (for small
                images, e.g. a `resize_images` cache; see `ImageDataLoaders`).
            Others: see `from_folder`.
        Returns:
            ImageDataLoaders.

        >>> dls = ImageDataLoaders.from_csv(path, 'train_v2.csv', 'train-jpg',
        ...                                 tfms=top_down_tfms, size=64)  # doctest: +SKIP

        Used in lesson 02.
        """
        path = Path(path)
        items = labelled_csv_rows(path / csv, path / folder, suffix, label_delim, fn_col, label_col)
        splitter = (index_splitter(valid_idx) if valid_idx is not None
                    else random_splitter(valid_pct, seed))
        block = DataBlock(None, _second, splitter, get_x=_first, size=size, tfms=tfms, stats=stats)
        test_items = unlabelled_folder_files(path / test) if test else None
        return block.dataloaders(items, bs=bs, test_items=test_items, num_workers=num_workers,
                                 in_memory=in_memory)


def _first(item):
    return item[0]


def _second(item):
    return item[1]


def _batch_augmentable(tfm):
    """True when `tfm` describes its augmentation (an `ImageTransform`); else raise and say why."""
    if isinstance(tfm, ImageTransform):
        return True
    raise TypeError(f'in_memory=True augments whole batches from the augmentation an '
                    f'ImageTransform describes, but the training transform is {tfm!r}. Build it '
                    'with side_on_tfms, top_down_tfms or ImageTransform(size, stats, '
                    'Augmentation(...)), or pass in_memory=False.')
