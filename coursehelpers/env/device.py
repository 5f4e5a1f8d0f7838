"""The one place that decides the device, the precision and the seed.

Everything else in the package asks `default_device()` and moves tensors with
`.to(device)`. On CUDA, training runs under `autocast(device)` (bfloat16 where
the GPU supports it, else float16 with a gradient scaler from `grad_scaler`);
on the CPU and MPS both are harmless no-ops.

cuDNN autotuning (`torch.backends.cudnn.benchmark`) times every convolution algorithm the
first time it meets an input shape, and again for every new shape: a last partial batch, one
image to predict, a TTA pass, a new image size. On the first GPU run of the course that made
the first step of lesson 01's unfrozen fit take 31.7 s (the other 17 steps under a second
together). So autotuning is off unless `COURSE_CUDNN_AUTOTUNE` asks for it: `train` turns it
on only inside training loops whose batches all have one shape (`autotune`, used by the
Learner), `on` everywhere (the old behaviour, kept to measure against), `off` (the default)
nowhere, where cuDNN picks its algorithm by heuristics at no start-up cost.
"""
import contextlib
import os
import random

import numpy as np
import torch

__all__ = ['default_device', 'no_gpu_reason', 'autocast', 'amp_dtype', 'grad_scaler',
           'seed_everything', 'device_name', 'autotune_policy', 'autotune', 'memory_budget_mb']

AUTOTUNE_POLICIES = ('off', 'train', 'on')


def default_device():
    """Return the torch.device lessons train on: cuda, then mps, then cpu.

    `COURSE_DEVICE` (for example `cpu` or `cuda:1`) overrides the choice. Under `torchrun`,
    each process takes the GPU numbered by its `LOCAL_RANK`.

    >>> default_device().type in ('cuda', 'mps', 'cpu')
    True

    Used in lesson 00 and by the Learner.
    """
    forced = os.environ.get('COURSE_DEVICE', '').strip()
    if forced:
        dev = torch.device(forced)
        if dev.type == 'cuda' and not torch.cuda.is_available():
            raise RuntimeError(f"COURSE_DEVICE={forced} but CUDA is not usable here "
                               f"({no_gpu_reason()}). Unset COURSE_DEVICE or set it to 'cpu'.")
        return dev
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = autotune_policy() == 'on'     # see the module's text
        if 'LOCAL_RANK' in os.environ:               # under torchrun: this process's own GPU
            torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
            return torch.device('cuda', int(os.environ['LOCAL_RANK']))
        return torch.device('cuda')
    mps = getattr(torch.backends, 'mps', None)
    if mps is not None and mps.is_available():
        return torch.device('mps')
    return torch.device('cpu')


def autotune_policy():
    """`COURSE_CUDNN_AUTOTUNE`: 'off' (the default), 'train' or 'on' (see the module's text).

    >>> autotune_policy() in AUTOTUNE_POLICIES
    True
    """
    policy = os.environ.get('COURSE_CUDNN_AUTOTUNE', '').strip().lower() or 'off'
    if policy not in AUTOTUNE_POLICIES:
        raise ValueError(f"COURSE_CUDNN_AUTOTUNE={policy!r} is not one of {AUTOTUNE_POLICIES}: "
                         "unset it (no autotuning), or set it to 'train' or 'on'.")
    return policy


@contextlib.contextmanager
def autotune(device, fixed_shapes):
    """Within the block, let cuDNN autotune convolutions on `device` if the policy says so.

    With `COURSE_CUDNN_AUTOTUNE=train`, autotuning is on in the block only when
    `fixed_shapes` (every batch of the loop has one shape, so each convolution is tuned once);
    with `on` always, with `off` never. The previous setting comes back afterwards. On the CPU
    and MPS it does nothing.

    >>> with autotune('cpu', fixed_shapes=True):
    ...     pass

    Used by `Learner.fit` around its training batches.
    """
    if torch.device(device).type != 'cuda':
        yield
        return
    policy, before = autotune_policy(), torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = policy == 'on' or (policy == 'train' and fixed_shapes)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def memory_budget_mb(device=None, share=0.25):
    """Megabytes a data set may keep in memory on this machine: `share` of the RAM, and on a
    GPU also at most `share` of its memory (images kept in memory live there). At least 1024.

    >>> memory_budget_mb('cpu') >= 1024
    True

    Used by `fits_in_memory`.
    """
    device = torch.device(device) if device is not None else default_device()
    try:
        ram = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**20
    except (ValueError, OSError, AttributeError):          # not a POSIX system
        ram = 16 * 1024
    budget = ram * share
    if device.type == 'cuda':
        budget = min(budget, torch.cuda.get_device_properties(device).total_memory / 2**20 * share)
    return int(max(budget, 1024))


def no_gpu_reason():
    """Say in words why CUDA is not usable, or return None when it is.

    Tells apart a CPU-only build of torch, a missing NVIDIA driver and a
    machine with no GPU. Used in lesson 00.
    """
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return ('this torch is a CPU-only build: install a CUDA build of torch '
                '(see setup/ and environment.yml)')
    if not any(os.path.exists(p) for p in ('/proc/driver/nvidia/version', '/dev/nvidiactl')):
        return 'no NVIDIA driver is loaded (no GPU on this machine, or the driver is not installed)'
    return 'the NVIDIA driver is present but torch sees no usable GPU (check nvidia-smi)'


def device_name(device=None):
    """Describe the device in one line: GPU name and memory, or CPU threads."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        return f'{props.name}, {props.total_memory / 2**30:.1f} GiB'
    if device.type == 'mps':
        return 'Apple GPU (MPS)'
    return f'CPU, {torch.get_num_threads()} threads'


def amp_dtype(device):
    """The autocast dtype for `device`: bfloat16 or float16 on CUDA, None elsewhere."""
    device = torch.device(device)
    if device.type != 'cuda':
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device):
    """A context that runs the forward pass in mixed precision on CUDA.

    On the CPU or MPS it does nothing, so the same training code runs everywhere.

    >>> with autocast('cpu'):
    ...     y = torch.ones(2) * 2

    Used by the Learner.
    """
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type='cuda', dtype=dtype)


def grad_scaler(device):
    """A gradient scaler that is active only for float16 on CUDA.

    bfloat16 and full precision need no loss scaling; the returned scaler is
    then disabled and its `scale`, `step` and `update` pass straight through.
    """
    enabled = amp_dtype(device) == torch.float16
    return torch.amp.GradScaler('cuda', enabled=enabled)


def seed_everything(seed=42):
    """Seed python, numpy and torch (all devices) so a lesson reruns the same.

    >>> seed_everything(0)
    0

    Used at the top of every lesson.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed
