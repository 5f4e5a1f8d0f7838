"""The banner every lesson prints in its first code cell."""
import platform

import torch
import torchvision

from .device import default_device, device_name, no_gpu_reason, seed_everything
from .modes import get_mode, max_batches, use_pretrained
from .paths import STANDIN_WARNING, data_root, mirror_root, standins_in
from .version import __version__

__all__ = ['banner']


def banner(seed=None):
    """Print one block: mode, device, data root, versions (returns None, so Jupyter shows it once).

    When there is no GPU it also says why (no driver, CPU-only torch, none
    present). With `seed`, seeds python, numpy and torch first.

    >>> banner(seed=42)          # doctest: +ELLIPSIS
    mode ...

    Used in the first code cell of every lesson.
    """
    if seed is not None:
        seed_everything(seed)
    mode, dev = get_mode(), default_device()
    lines = [
        f"mode      {mode}" + ('  (small real samples, minutes on a CPU; COURSE_MODE=full for the '
                              'complete data)' if mode == 'quick' else '  (complete data sets)'),
        f"device    {dev.type}: {device_name(dev)}",
    ]
    reason = no_gpu_reason()
    if reason:
        lines.append(f"no GPU    {reason}")
    mirror = mirror_root()
    lines += [
        f"data      {data_root()}" + (f'  (mirror: {mirror}, ' + (
            'copies checked against its SHA256SUMS)' if (mirror / 'SHA256SUMS').is_file()
            else 'UNCHECKED: it has no SHA256SUMS, copies are trusted as they are)') if mirror else ''),
        f"versions  python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, coursehelpers {__version__}",
    ]
    if seed is not None:
        lines.append(f"seed      {seed}")
    print('\n'.join(lines + rehearsal_lines(mode)))


def rehearsal_lines(mode):
    """The banner's warnings when this is a rehearsal rather than the real thing: stand-in
    data in full mode, a batch cap, random weights. An empty list otherwise.

    Used by `banner`.
    """
    lines = []
    standins = standins_in() if mode == 'full' else {}
    if standins:
        made = ', '.join(f"{name} (scale {info.get('scale')})" for name, info in standins.items())
        lines.append(f"STAND-IN  {made}: {STANDIN_WARNING}")
    if max_batches() is not None:
        lines.append(f"cap       COURSE_MAX_BATCHES={max_batches()}: every loop stops after "
                     f"{max_batches()} batches (a rehearsal: the metrics mean nothing)")
    if not use_pretrained():
        lines.append("weights   random (COURSE_PRETRAINED=0, a rehearsal: the metrics mean nothing)")
    return lines
