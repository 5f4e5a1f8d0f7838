"""`DataLoaders`: the training, validation and test loaders a Learner works on; `BPTTLoader`.

Data helpers (vision, tabular, text, ratings) build one, or a subclass of it that adds
`classes`, `multi_label` and `augmented` (training augmentation in dataset order, for TTA).
"""
import torch
from torch.utils.data import RandomSampler

__all__ = ['DataLoaders', 'BPTTLoader', 'in_order', 'check_batch_dim', 'fixed_batch_shapes']


class DataLoaders:
    """The training, validation and (optional) test loaders a Learner works on.

    Args:
        train: a DataLoader that shuffles; batches are `(inputs..., targets)`.
        valid, test: DataLoaders in dataset order (`test` may be None).
    Attributes: `train`, `valid`, `test`, `batch_size`; subclasses may add `classes`
    and `multi_label`, and define `augmented` (needed by `Learner.tta`).

    >>> dls = DataLoaders(DataLoader(train_ds, 64, shuffle=True),       # doctest: +SKIP
    ...                   DataLoader(valid_ds, 64))

    Used in lesson 06 (the image, text and ratings loaders subclass it; `tabular_dls` and
    `precomputed` build one).
    """

    def __init__(self, train, valid, test=None):
        self.train, self.valid, self.test = train, valid, test
        self.batch_size = getattr(train, 'batch_size', None)

    def loader(self, ds):
        """The loader of split `ds`: 'train', 'valid' or 'test'."""
        if ds not in ('train', 'valid', 'test'):
            raise ValueError(f"ds must be 'train', 'valid' or 'test', not {ds!r}.")
        if getattr(self, ds) is None:
            raise ValueError(f'These loaders have no {ds} set: pass {ds}= (a DataLoader) when '
                             'you build them.')
        return getattr(self, ds)

    def augmented(self, ds):
        """A loader over split `ds`, in dataset order, WITH the training augmentation (for TTA).

        The base class has no augmentation, so it raises; subclasses that augment define it.
        """
        raise NotImplementedError(
            'This data has no augmentation; TTA needs one. Build the data with a helper that '
            'augments (for example ImageDataLoaders.from_folder(path, tfms=side_on_tfms)), or '
            'subclass DataLoaders and define augmented(ds).')

    def __repr__(self):
        sizes = ', '.join(f'{ds}={len(dl.dataset)}' for ds, dl in
                          (('train', self.train), ('valid', self.valid), ('test', self.test))
                          if dl is not None)
        return f'{type(self).__name__}({sizes}, bs={self.batch_size})'


def in_order(loader):
    """Return `loader`, refusing one that shuffles (its predictions would be out of order).

    Used by `Learner.get_preds` and `Learner.tta`.
    """
    if isinstance(getattr(loader, 'sampler', None), RandomSampler):
        raise ValueError('This loader shuffles, so its predictions would not be in dataset '
                         'order: build it with shuffle=False.')
    return loader


def fixed_batch_shapes(dl):
    """True when every batch of `dl` holds the same number of items: a batch size and either
    `drop_last` or a data set it divides. (Items of one shape are the data's business: images
    after their transforms are; the text loaders, which batch by length, have no `batch_size`.)

    >>> fixed_batch_shapes(torch.utils.data.DataLoader(range(10), batch_size=4, drop_last=True))
    True
    >>> fixed_batch_shapes(torch.utils.data.DataLoader(range(10), batch_size=4))
    False

    Used by `Learner.fit` (the cuDNN autotuning policy, `env.device.autotune`).
    """
    bs = getattr(dl, 'batch_size', None)
    if not bs or isinstance(dl, BPTTLoader) or not hasattr(dl, 'dataset'):
        return False
    return bool(getattr(dl, 'drop_last', False)) or len(dl.dataset) % bs == 0


def check_batch_dim(x, dataset):
    """Raise a clear error when `x` has the shape of one item of `dataset` (no batch dimension).

    Used by `Learner.predict` (lessons 01 and 06).
    """
    item = dataset[0] if len(dataset) else None
    first = item[0] if isinstance(item, (tuple, list)) else item
    if torch.is_tensor(x) and torch.is_tensor(first) and x.dim() == first.dim():
        raise ValueError(f'x has shape {tuple(x.shape)}, the shape of one item: it lacks the '
                         f'batch dimension. Pass x[None] (shape {(1, *x.shape)}) to predict '
                         'one item.')


class BPTTLoader:
    """Mini-batches `(x, y)` for back-propagation through time over one stream of indices.

    The stream is cut into `bs` rows of equal length (the few characters left over at the
    end are dropped); batch j holds columns `j*bptt ... j*bptt + bptt - 1` of every row (the
    last batch may be shorter), and `y` is `x` shifted one character to the right. So every
    character but the leftovers is read exactly once per epoch, and row r of batch j+1
    continues row r of batch j: the hidden state can be carried across batches.

    >>> dl = BPTTLoader(torch.arange(11), bs=2, bptt=3)
    >>> [x.tolist() for x, y in dl]
    [[[0, 1, 2], [5, 6, 7]], [[3, 4], [8, 9]]]

    Used in lessons 04 and 06.
    """

    def __init__(self, stream, bs=64, bptt=70):
        n = (len(stream) - 1) // bs
        if n < 1:
            raise ValueError(f'A stream of {len(stream)} characters cannot fill bs={bs} rows: '
                             'use a smaller batch size or more text.')
        self.dataset, self.batch_size, self.bptt = stream, bs, bptt
        self.x = stream[:n * bs].view(bs, n)
        self.y = stream[1:n * bs + 1].view(bs, n)

    def shard(self, rank, world_size, seed=None):
        """Rows `rank * bs ... rank * bs + bs - 1` of this loader made `world_size` times as
        wide: the processes under `torchrun` together read what one process with batch size
        `world_size * bs` would (used by `training.distributed.shard_train`; nothing is
        shuffled, so `seed` is not needed).

        >>> [x.tolist() for x, y in BPTTLoader(torch.arange(11), bs=1, bptt=3).shard(1, 2)]
        [[[5, 6, 7]], [[8, 9]]]
        """
        wide = BPTTLoader(self.dataset, self.batch_size * world_size, self.bptt)
        rows = slice(rank * self.batch_size, (rank + 1) * self.batch_size)
        wide.x, wide.y, wide.batch_size = wide.x[rows], wide.y[rows], self.batch_size
        return wide

    def __len__(self):
        return -(-self.x.shape[1] // self.bptt)

    def __iter__(self):
        for j in range(0, self.x.shape[1], self.bptt):
            yield self.x[:, j:j + self.bptt], self.y[:, j:j + self.bptt]
