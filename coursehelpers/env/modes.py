"""Quick or full mode: the one switch that sizes every lesson.

Quick mode runs every lesson on small real samples in minutes on a laptop CPU.
Full mode uses the complete data sets and the lesson's real sizes on a GPU.
"""
import os

__all__ = ['get_mode', 'per_mode', 'MODES', 'max_batches', 'batches_to_run', 'max_epochs',
           'epochs_to_run', 'use_pretrained']

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


def max_batches():
    """The batch cap `COURSE_MAX_BATCHES` (a whole number >= 1), or None when it is not set.

    With a cap, every loop of the Learner (each training epoch, each validation pass,
    predictions, TTA, the LR finder) and the precomputing of activations stops after that
    many mini-batches: a rehearsal of a lesson's cells on full-size data in minutes, whose
    numbers mean nothing.

    >>> max_batches() is None or max_batches() >= 1
    True

    Used by the Learner.
    """
    return _whole_number('COURSE_MAX_BATCHES', 'batches', 'run every batch')


def max_epochs():
    """The epoch cap `COURSE_MAX_EPOCHS` (a whole number >= 1), or None when it is not set.

    With it every fit stops after that many epochs of its schedule. For CPU rehearsals only:
    a batch of lesson 04's full-mode classifier (48 reviews of up to 1,400 tokens through a
    3-layer LSTM of 1,150 units) takes minutes on a laptop CPU, so its 17 epochs take long
    even at one batch each. The projection runs without it.

    Used by the Learner.
    """
    return _whole_number('COURSE_MAX_EPOCHS', 'epochs', 'run every epoch')


def _whole_number(variable, what, otherwise):
    """The whole number >= 1 in environment variable `variable`, or None when it is unset."""
    text = os.environ.get(variable, '').strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f'{variable}={text!r} is not a number of {what}: set it to a whole '
                         f'number of at least 1, or unset it to {otherwise}.')
    return int(text)


def batches_to_run(n):
    """How many of a loop's `n` mini-batches run: all of them, or `max_batches()` if fewer.

    >>> batches_to_run(7) in range(1, 8)
    True
    """
    cap = max_batches()
    return n if cap is None else min(n, cap)


def epochs_to_run(n):
    """How many of a fit's `n` epochs run: all of them, or `max_epochs()` if fewer.

    Used by `Learner.fit`.
    """
    cap = max_epochs()
    return n if cap is None else min(n, cap)


def use_pretrained():
    """False when `COURSE_PRETRAINED=0`: CNNs are built with random weights, for a rehearsal of
    full mode on a machine without the pretrained weights (the metrics then mean nothing).

    >>> use_pretrained() in (True, False)
    True

    Used by `imagenet_model` and `banner`.
    """
    text = os.environ.get('COURSE_PRETRAINED', '1').strip().lower()
    if text not in ('0', '1', ''):
        raise ValueError(f'COURSE_PRETRAINED={text!r}: set it to 0 (random weights, a '
                         'rehearsal) or 1 (pretrained weights, the default).')
    return text != '0'
