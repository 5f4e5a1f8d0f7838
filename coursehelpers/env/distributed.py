"""Several processes, one training: the process group that `torchrun` starts.

`torchrun --nproc_per_node=N script.py` starts N copies of the script and gives each one
`RANK` (its number among all processes, on all machines), `LOCAL_RANK` (its number on this
machine: which GPU it takes) and `WORLD_SIZE` (how many there are). This module reads them,
joins the process group once (NCCL between GPUs, gloo on CPUs), and offers the few
synchronisation points a lesson script needs: `barrier`, `rank0_first` (one process fetches
data while the others wait, then they read it) and `is_main` (only rank 0 prints and writes).
Without `torchrun` every function here answers as a single process and does nothing.

>>> world_size(), rank(), is_main()     # a plain `python` run
(1, 0, True)

The training side (DistributedDataParallel, samplers) is `training/distributed.py`.
"""
import atexit
import contextlib
import os
import signal
import sys

import torch
import torch.distributed as dist

from .device import default_device

__all__ = ['launched', 'world_size', 'rank', 'local_rank', 'is_main', 'init_distributed',
           'teardown', 'barrier', 'rank0_first']

_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK')


def launched():
    """True when a launcher such as `torchrun` started this process (RANK, WORLD_SIZE and
    LOCAL_RANK are all set)."""
    return all(k in os.environ for k in _ENV)


def world_size():
    """How many processes train together: `WORLD_SIZE`, or 1 without `torchrun`."""
    return int(os.environ['WORLD_SIZE']) if launched() else 1


def rank():
    """This process's number among all of them (0 ... world_size - 1); 0 without `torchrun`."""
    return int(os.environ['RANK']) if launched() else 0


def local_rank():
    """This process's number on its own machine, the GPU it uses; 0 without `torchrun`."""
    return int(os.environ['LOCAL_RANK']) if launched() else 0


def is_main():
    """True on rank 0, the process that prints, records and writes files (and without `torchrun`).

    Used by the Learner, `record` and `save_checkpoint`.
    """
    return rank() == 0


def init_distributed(device=None):
    """Join the process group once, if `torchrun` started this process; return True if it did.

    The backend is NCCL when `device` (default: `default_device()`) is a GPU, gloo otherwise.
    The group is left at exit (`teardown`), so one script can `fit` as often as it likes.
    SIGTERM (how `torchrun` stops the other processes when one fails) becomes SystemExit, so
    `finally` blocks still run and no temporary checkpoint file is left behind.

    Used by the Learner and `rank0_first` (the training scripts in `scripts/`).
    """
    if not launched():
        return False
    if dist.is_initialized():
        return True
    gpu = torch.device(device or default_device()).type == 'cuda'
    dist.init_process_group('nccl' if gpu else 'gloo')
    atexit.register(teardown)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return True


def _exit_on_sigterm(signum, frame):
    sys.exit(128 + signum)


def teardown():
    """Leave the process group (called at exit; harmless when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier():
    """Wait until every process gets here (nothing to wait for without `torchrun`)."""
    if init_distributed():
        if dist.get_backend() == 'nccl':
            dist.barrier(device_ids=[local_rank()])
        else:
            dist.barrier()


@contextlib.contextmanager
def rank0_first(local=False):
    """Run the block on rank 0 first while the others wait, then on the others.

    For work that must happen once, such as a download or building a cache: rank 0 does it,
    the others then find it done and only read. With `local=True`, local rank 0 of each
    machine goes first (a machine's data folder is its own). If the first process fails
    inside the block, it exits and `torchrun` stops the others.

    >>> with rank0_first():
    ...     path = 'fetched once'

    Used by `get_data` (lessons 00 to 07 and the scripts in `scripts/`).
    """
    if not init_distributed():
        yield
        return
    first = (local_rank() if local else rank()) == 0
    if not first:
        barrier()
    yield
    if first:
        barrier()
