"""Quick or full mode: the one switch that sizes every lesson.

Quick mode runs every lesson on small real samples in minutes on a laptop CPU.
Full mode uses the complete data sets and the lesson's real sizes on a GPU.
"""
import os

__all__ = ['get_mode', 'per_mode', 'MODES']

MODES = ('quick', 'full')


def get_mode():
    """Return 'quick' or 'full'.

    `COURSE_MODE` decides when it is set; otherwise 'full' when a CUDA GPU is
    usable and 'quick' when it is not.

    >>> get_mode() in ('quick', 'full')
    True

    Used by `per_mode`, `banner`, `record` and `get_data`.
    """
    mode = os.environ.get('COURSE_MODE', '').strip().lower()
    if mode:
        if mode not in MODES:
            raise ValueError(f"COURSE_MODE={mode!r} is not a mode: set it to 'quick' or 'full', "
                             "or unset it to choose by the hardware.")
        return mode
    import torch
    return 'full' if torch.cuda.is_available() else 'quick'


def per_mode(quick, full):
    """Pick the value for the current mode.

    A lesson cell reads `size = per_mode(quick=128, full=224)`: the same cell
    runs in both modes, only the value changes.

    >>> per_mode(quick=1, full=10) in (1, 10)
    True

    Used in every lesson.
    """
    return quick if get_mode() == 'quick' else full
