"""A Learner for a pretrained CNN, and training its head on precomputed activations.

With the body frozen, every epoch pushes the same images through the same body.
`precomputed(learn)` does that once, keeps the body's (pooled) outputs, and
returns a Learner that trains only the head on them: head-only epochs become
almost free. The head is shared, so `learn` has it trained afterwards.
"""
import hashlib
import os
import warnings

import torch
from torch.utils.data import DataLoader, TensorDataset

from ..env.distributed import is_main, rank0_first
from ..env.modes import max_batches
from ..env.paths import data_root
from ..training.learner import Learner
from ..training.loaders import DataLoaders
from ..training.loop_timing import loop_batches
from ..training.metrics import accuracy, accuracy_multi
from .models import create_cnn
from .transforms import ImageTransform

__all__ = ['cnn_learner', 'precomputed', 'activations']

_MEMORY = {}          # key -> (train features, train targets, valid features, valid targets)


def cnn_learner(dls, arch, metrics=None, pretrained=True, dropout=0.5, **kwargs):
    """A Learner for `arch` with a new head sized to `dls`, its body frozen.

    Softmax cross-entropy for single-label data, sigmoid binary cross-entropy
    for multi-label (`dls.multi_label`); metrics default to accuracy.

    >>> learn = cnn_learner(dls, 'resnet34')        # doctest: +SKIP
    >>> learn.fit(1e-2, 3)                          # doctest: +SKIP

    Used in lessons 01, 02 and 07.
    """
    model = create_cnn(arch, len(dls.classes), pretrained=pretrained, dropout=dropout)
    if metrics is None:
        metrics = [accuracy_multi] if dls.multi_label else [accuracy]
    learn = Learner(model, dls, metrics=metrics, **kwargs)
    learn.freeze()
    return learn


def _fingerprint(learn):
    """A key that changes with the data, the model, the image size or the transforms."""
    dls, h = learn.dls, hashlib.sha256()
    for ds in (dls.train_ds, dls.valid_ds):
        for p in ds.paths:
            st = os.stat(p)
            h.update(f'{p}|{st.st_size}|{st.st_mtime_ns}\n'.encode())
        h.update(repr(ds.targets.tolist()).encode())
    h.update(repr(dls.valid_ds.tfm).encode())
    cap = max_batches()                         # capped activations are cached apart
    h.update((learn.model.arch + ('' if cap is None else f'|max_batches={cap}')).encode())
    for t in learn.model.body.state_dict().values():
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


@torch.no_grad()
def activations(learn, dataset):
    """The head's input for every item of `dataset`: body output, pooled and flattened.

    The images go through the validation transform (no augmentation). Returns
    an N x F float tensor on the CPU (under `COURSE_MAX_BATCHES`, the first batches only).
    """
    model, pool = learn.model.eval(), learn.model.head[:2]      # concat pooling + flatten
    loader = DataLoader(dataset.with_tfm(learn.dls.valid_ds.tfm), batch_size=learn.dls.batch_size,
                        num_workers=learn.dls.num_workers)
    out = [pool(model.features(x.to(learn.device))).float().cpu()
           for x, _ in loop_batches(loader, 'precompute')]            # COURSE_MAX_BATCHES
    return torch.cat(out)


def _cached(learn):
    """Activations of train and valid from memory, disk, or computed now (then saved)."""
    key = _fingerprint(learn)
    if key in _MEMORY:
        return _MEMORY[key], 'memory'
    file = data_root() / '.cache' / 'activations' / f'{key}.pt'
    with rank0_first(local=True):          # under torchrun: one process per machine computes
        if file.exists():
            _MEMORY[key] = torch.load(file, weights_only=True)
            return _MEMORY[key], str(file)
        dls = learn.dls
        xt, xv = activations(learn, dls.train_ds), activations(learn, dls.valid_ds)
        feats = (xt, dls.train_ds.targets[:len(xt)], xv, dls.valid_ds.targets[:len(xv)])
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix('.tmp')
        torch.save(feats, tmp)
        os.replace(tmp, file)
        _MEMORY[key] = feats
        return feats, 'computed now'


def precomputed(learn):
    """A Learner that trains `learn`'s head on precomputed body activations.

    The activations are cached (in memory and under the data root's `.cache/`)
    and keyed by the data files, targets, validation transform, architecture
    and body weights: changing any of them computes new ones. Augmentation
    cannot be used on cached activations: if the data has some, a warning
    says it is off. Returns the head Learner; `learn.model.head` is trained in place.

    >>> precomputed(learn).fit(1e-2, 3)       # doctest: +SKIP

    Used in lessons 01 and 02.
    """
    if _augments(learn.dls):
        warnings.warn('These loaders augment the training images, but precomputed activations are '
                      'computed once without augmentation: augmentation is OFF while you train on '
                      'them. Train the full model (not precomputed) to use it.', stacklevel=2)
    (xt, yt, xv, yv), where = _cached(learn)
    if is_main():                          # under torchrun, one process says it
        print(f'activations: {tuple(xt.shape)} train, {tuple(xv.shape)} valid ({where})')
    bs = learn.dls.batch_size
    dls = DataLoaders(DataLoader(TensorDataset(xt, yt), bs, shuffle=True, drop_last=len(xt) > bs),
                      DataLoader(TensorDataset(xv, yv), bs))
    head = learn.model.head[2:]                                 # after pooling and flatten
    return Learner(head, dls, learn.loss_func, learn.metrics, opt_func=learn.opt_func, wd=learn.wd,
                   path=learn.path, progress=learn.progress)


def _augments(dls):
    """True when the training transform augments: its `Augmentation`, or, for a transform of
    the student's own, when it is not the validation transform."""
    if isinstance(dls.train_tfm, ImageTransform):
        return dls.train_tfm.augment is not None
    return dls.train_tfm is not dls.valid_ds.tfm
