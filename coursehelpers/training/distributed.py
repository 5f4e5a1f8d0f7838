"""The Learner under `torchrun`: DistributedDataParallel, sharded training data, exact validation.

Each of the N processes holds a full copy of the model. In every training step each one
takes a different mini-batch (a `DistributedSampler` deals the training set out, reshuffled
every epoch), computes its gradients, and DistributedDataParallel (DDP) averages them across
the processes during `backward()`, so every copy takes the same optimizer step and the
weights stay identical. One step thus learns from N mini-batches: the global batch is N
times the loaders' batch size.

Validation is exact: each process evaluates every N-th item (`ShardSampler`, which neither
pads nor drops), and the predictions, targets and summed losses are gathered, so the loss
and every metric equal those of one process on the whole validation set.

With one process (a plain `python` run, or `torchrun --nproc_per_node=1`) every function
here hands back what it was given. The process group itself is `env/distributed.py`.
"""
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import (BatchSampler, DataLoader, DistributedSampler, RandomSampler,
                              Sampler)

from ..env.distributed import init_distributed, local_rank, rank, world_size

__all__ = ['active', 'wrap_model', 'shard_train', 'set_epoch', 'ShardSampler', 'shard_eval',
           'distributed_validate', 'average', 'sync_buffers', 'one_process_only']


def active():
    """True when more than one process trains (and the process group is joined)."""
    return world_size() > 1 and init_distributed()


def wrap_model(model, wrapped=None, sync_batchnorm=False):
    """`model` in DistributedDataParallel, or None with one process.

    DDP only averages the gradients of the parameters that required them when it was
    built, and it fails when one of those gets none. Freezing or unfreezing layer groups
    changes that set, so the model is wrapped again whenever it changed (`wrapped`, the
    previous wrapper, is returned as it is otherwise). This costs one broadcast of the
    weights per change, where `find_unused_parameters=True` would cost a search of the
    graph on every step and would still miss a group unfrozen after wrapping. The wrapper
    shares `model`'s parameters, so the optimizer's groups (differential learning rates)
    and the BatchNorm folding of frozen CNN bodies work unchanged.

    `sync_batchnorm=True` (`learn.sync_batchnorm = True`, CUDA only) makes BatchNorm layers
    that train use the statistics of the global batch (`nn.SyncBatchNorm`), for per-process
    batches too small for good ones.

    Used by `Learner.fit`.
    """
    if not active():
        return None
    key = tuple((id(p), p.requires_grad) for p in model.parameters())
    if wrapped is not None and getattr(wrapped, 'param_key', None) == key:
        return wrapped
    if not any(p.requires_grad for p in model.parameters()):
        return None
    gpu = next(model.parameters()).device
    if sync_batchnorm and gpu.type != 'cuda':
        raise ValueError('sync_batchnorm needs CUDA GPUs: PyTorch\'s SyncBatchNorm does not '
                         f'train on {gpu.type}. Set learn.sync_batchnorm = False here.')
    if sync_batchnorm:
        convert_batchnorm(model)
    ddp = DistributedDataParallel(model, device_ids=[gpu] if gpu.type == 'cuda' else None)
    ddp.param_key = key
    return ddp


def convert_batchnorm(model):
    """Turn the plain BatchNorm layers of `model` into `nn.SyncBatchNorm`, in place.

    A subclass that does more than normalise (timm's BatchNormAct2d adds an activation)
    would lose it, so it is refused with the converter to use instead.
    """
    plain = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    odd = {type(m).__name__ for m in model.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and type(m) not in plain + (nn.SyncBatchNorm,)}
    if odd:
        raise ValueError(f'sync_batchnorm: {sorted(odd)} are BatchNorm subclasses that do '
                         'more than normalise, and nn.SyncBatchNorm would drop that. For timm '
                         'models, convert them first with timm.layers.convert_sync_batchnorm'
                         '(model), or train without sync_batchnorm.')
    for name, child in list(model.named_children()):
        if type(child) in plain:
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        else:
            convert_batchnorm(child)
    return model


def _rebuild(dl, sampler):
    """A copy of DataLoader `dl` that draws its items from `sampler`, batched as `dl` was."""
    opts = dict(num_workers=dl.num_workers, collate_fn=dl.collate_fn, pin_memory=dl.pin_memory,
                timeout=dl.timeout, worker_init_fn=dl.worker_init_fn,
                persistent_workers=dl.persistent_workers)
    if dl.num_workers:
        opts['prefetch_factor'] = dl.prefetch_factor
    if dl.batch_size is None and isinstance(dl.sampler, BatchSampler):     # batched indexing
        batches = BatchSampler(sampler, dl.sampler.batch_size, dl.sampler.drop_last)
        return DataLoader(dl.dataset, sampler=batches, batch_size=None, **opts)
    return DataLoader(dl.dataset, batch_size=dl.batch_size, sampler=sampler,
                      drop_last=dl.drop_last, **opts)


def _item_sampler(dl):
    """The sampler that orders `dl`'s items (inside a batch sampler, if it has one)."""
    sampler = dl.sampler
    return sampler.sampler if isinstance(sampler, BatchSampler) else sampler


def shard_train(dl):
    """This process's share of the training loader `dl`; `dl` itself with one process.

    A DataLoader gets a `DistributedSampler` (shuffled if `dl` shuffles; the seed is drawn
    from torch's generator on rank 0, so `seed_everything` fixes it and each fit reshuffles).
    Every process gets the same number of batches: the sampler repeats a few items when the
    set does not split evenly. A loader of another kind must offer
    `shard(rank, world_size, seed)` (`BPTTLoader` and the image loaders do).

    Used by `Learner.fit`.
    """
    if not active():
        return dl
    if not (hasattr(dl, 'shard') or isinstance(dl, DataLoader)):
        raise TypeError(f'A {type(dl).__name__} cannot be split between {world_size()} '
                        'processes: give it a method shard(rank, world_size, seed) that returns '
                        "this process's part (see BPTTLoader.shard), or use a torch DataLoader.")
    seed = torch.tensor([int(torch.randint(2**31 - 1, ()))], device=_comm_device())
    dist.broadcast(seed, 0)                  # NCCL sends GPU tensors only, gloo CPU ones
    if hasattr(dl, 'shard'):                 # the image loaders, BPTTLoader
        return dl.shard(rank(), world_size(), int(seed))
    shuffle = isinstance(_item_sampler(dl), RandomSampler)
    sampler = DistributedSampler(dl.dataset, world_size(), rank(), shuffle=shuffle,
                                 seed=int(seed))
    return _rebuild(dl, sampler)


def set_epoch(dl, epoch):
    """Tell `dl`'s DistributedSampler the epoch, so each epoch deals out a new order.

    Used by `Learner.fit` at the start of every epoch.
    """
    sampler = _item_sampler(dl) if isinstance(dl, DataLoader) else getattr(dl, 'sampler', None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


class ShardSampler(Sampler):
    """Items `rank, rank + world, rank + 2 * world, ...` of `n`: no item padded, none dropped.

    >>> list(ShardSampler(5, rank=1, world=2))
    [1, 3]
    """

    def __init__(self, n, rank, world):
        self.indices = range(rank, n, world)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def shard_eval(dl):
    """This process's every-N-th share of an in-order DataLoader `dl`, or None when `dl`
    cannot be split that way (another kind of loader, a shuffling one, fewer items than
    processes): every process then evaluates all of it."""
    if not (active() and isinstance(dl, DataLoader)) or len(dl.dataset) < world_size():
        return None
    if isinstance(_item_sampler(dl), RandomSampler):
        return None
    return _rebuild(dl, ShardSampler(len(dl.dataset), rank(), world_size()))


def distributed_validate(learn, keep_preds=True, kind='valid'):
    """`learn.validate()` on the validation set, each process doing its share (`shard_eval`).

    Returns what `validate` returns for the whole set: the mean loss over all items (each
    process's mean weighted by its item count) and, with `keep_preds`, every prediction and
    target in dataset order (gathered from all processes). BatchNorm statistics are copied
    from rank 0 first, so every process evaluates the same model.

    Used by `Learner.fit` after every epoch.
    """
    if not active():
        return learn.validate(keep_preds=keep_preds, kind=kind)
    sync_buffers(learn.model)
    part = shard_eval(learn.dls.loader('valid'))
    if part is None:
        return learn.validate(keep_preds=keep_preds, kind=kind)
    loss, preds, targets = learn.validate(part, keep_preds=keep_preds, kind=kind)
    n = len(part.sampler.sampler if part.batch_size is None else part.sampler)
    totals = torch.tensor([loss * n, n], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(totals)
    loss = float(totals[0] / totals[1])
    if not keep_preds:
        return loss, None, None
    return loss, _gather_in_order(preds, learn.device), _gather_in_order(targets, learn.device)


def _gather_in_order(part, device):
    """Interleave each process's every-N-th rows back into dataset order."""
    parts = [None] * world_size()
    dist.all_gather_object(parts, part.cpu())
    out = torch.empty((sum(len(p) for p in parts), *part.shape[1:]), dtype=part.dtype)
    for r, p in enumerate(parts):
        out[r::world_size()] = p
    return out.to(device)


def _comm_device():
    return torch.device('cuda', local_rank()) if dist.get_backend() == 'nccl' else 'cpu'


def average(t):
    """The mean of tensor `t` over all processes (`t` itself with one process).

    Used by `Learner.fit` for the training loss it prints.
    """
    if not active():
        return t
    t = t.detach().clone().float().to(_comm_device())
    dist.all_reduce(t)
    return t / world_size()


def sync_buffers(model):
    """Copy rank 0's buffers (BatchNorm running statistics) to every process."""
    if active():
        for b in model.buffers():
            dist.broadcast(b, 0)


def one_process_only(what):
    """Refuse, with the reason, to run `what` under `torchrun` with several processes.

    Used by `Learner.lr_find`.
    """
    if world_size() > 1:
        raise RuntimeError(
            f'{what} runs on one process: its sweep and plot are for choosing a rate by eye, '
            f'and here {world_size()} processes were started. Run it in a notebook or with '
            'plain `python` (one process), then pass the rate to this script. Under torchrun '
            'the global batch is world_size times the batch size, and a rate found for one '
            'process is usually scaled up with it (see the README).')
