"""Save and load a model with its optimizer: tensors and plain data only, no pickled code.

A checkpoint is one `torch.save` of a dict:
`{'format', 'model': state dict, 'opt': optimizer state dict, 'meta': {'model_class',
'signature': [[name, shape], ...], ...}}`. It is written to a temporary file beside the
target and then renamed, so a crash never leaves half a file, and it is read back
with `torch.load(..., weights_only=True)`, which cannot run code from the file.
"""
import copy
import os
import pickle
import tempfile
from pathlib import Path

import torch

from ..env.distributed import barrier, is_main

__all__ = ['FORMAT', 'model_signature', 'save_checkpoint', 'load_checkpoint', 'load_tensors',
           'check_same_architecture', 'check_same_groups', 'signature_mismatches', 'snapshot',
           'restore']

FORMAT = 'coursehelpers-checkpoint-1'


def model_signature(model):
    """The names and shapes of every tensor in the model's state dict.

    >>> model_signature(torch.nn.Linear(3, 2))
    [['weight', [2, 3]], ['bias', [2]]]
    """
    return [[name, list(t.shape)] for name, t in model.state_dict().items()]


def save_checkpoint(file, model, opt=None, extra=None):
    """Write model (and optimizer) state to `file` atomically; return the path.

    Args:
        file: where to write (its folder is created).
        model: the nn.Module; opt: its optimizer, or None.
        extra: more plain metadata (str, numbers, lists, dicts), e.g. the classes.

    Under `torchrun` only rank 0 writes; every process returns after it is written.

    Used by `Learner.save` (lessons 01 and 02).
    """
    file = Path(file)
    if not is_main():
        barrier()                          # rank 0 writes; wait until the file is there
        return file
    file.parent.mkdir(parents=True, exist_ok=True)
    meta = {'model_class': type(model).__name__, 'signature': model_signature(model),
            **(extra or {})}
    ckpt = {'format': FORMAT, 'model': model.state_dict(),
            'opt': opt.state_dict() if opt is not None else None, 'meta': meta}
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f'.{file.name}.', suffix='.tmp')
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, file)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    barrier()
    return file


def load_checkpoint(file, model, opt=None, device='cpu'):
    """Load `file` into `model` (and `opt`), refusing a checkpoint of another architecture.

    Also accepts a bare state dict saved with `torch.save(model.state_dict(), file)`.

    Returns:
        the checkpoint's metadata dict (empty for a bare state dict).
    Raises:
        FileNotFoundError naming the checkpoints that do exist; ValueError listing the
        first tensors whose names or shapes differ.

    Used by `Learner.load` (lesson 01).
    """
    file = Path(file)
    if not file.is_file():
        found = sorted(p.name for p in file.parent.glob('*.pth')) if file.parent.is_dir() else []
        raise FileNotFoundError(f'No checkpoint at {file}. Checkpoints in {file.parent}: '
                                f'{found or "none"}. Save one first with learn.save(name).')
    ckpt = load_tensors(file, device)
    if not (isinstance(ckpt, dict) and ckpt.get('format') == FORMAT):
        ckpt = {'model': ckpt, 'opt': None, 'meta': {}}
    check_same_architecture(file, ckpt['model'], model)
    with_opt = opt is not None and ckpt['opt'] is not None
    if with_opt:
        check_same_groups(file, ckpt['opt'], opt)
    model.load_state_dict(ckpt['model'])
    if with_opt:
        opt.load_state_dict(ckpt['opt'])
    return ckpt['meta']


def load_tensors(file, map_location='cpu'):
    """`torch.load(file, weights_only=True)`, with a message that says what to do when the file
    holds pickled Python objects (refused: loading them could run code) or is damaged.

    Used by `load_checkpoint`, `load_encoder` and the weight caches of `vision`.
    """
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f'{file} holds pickled Python objects, not only tensors: loading it could '
                         'run code from the file, so it was refused. If you saved it yourself, '
                         'load it once in a session you trust and save `model.state_dict()` '
                         'instead (learn.save does); never load such a file from elsewhere.') from None
    except (RuntimeError, EOFError, KeyError, OSError) as e:
        raise ValueError(f'{file} cannot be read as saved tensors ({type(e).__name__}): it is cut '
                         'short, damaged or not a PyTorch file. Save it (or copy it) again.') from None


def check_same_architecture(file, state_dict, model):
    """Refuse a state dict whose tensor names or shapes differ from the model's."""
    problems = signature_mismatches(state_dict, model)
    if problems:
        raise ValueError(f'{file} was saved from a different architecture than this model '
                         f'({type(model).__name__}); the first differences:\n  '
                         + '\n  '.join(problems[:5])
                         + '\nBuild the same model (architecture, number of classes) as when '
                           'you saved it, or save this model under a new name.')


def check_same_groups(file, opt_state, opt):
    """Refuse optimizer state whose param groups differ in number or size from `opt`'s."""
    saved = [len(group['params']) for group in opt_state['param_groups']]
    current = [len(group['params']) for group in opt.param_groups]
    if saved != current:
        raise ValueError(f'The optimizer state in {file} has parameter groups of sizes {saved}, '
                         f'this learner {current}: its layer groups differ from when it was '
                         'saved. Load the weights alone with learn.load(name, with_opt=False).')


def signature_mismatches(state_dict, model):
    """Say, tensor by tensor, how `state_dict` differs from `model` (an empty list: it fits).

    >>> signature_mismatches(torch.nn.Linear(3, 2).state_dict(), torch.nn.Linear(4, 2))
    ['weight: shape [2, 3] in the checkpoint, [2, 4] in the model']
    """
    saved = {name: list(t.shape) for name, t in state_dict.items()}
    current = dict(model_signature(model))
    problems = [f'{name}: in the checkpoint, not in the model' for name in saved
                if name not in current]
    problems += [f'{name}: in the model, not in the checkpoint' for name in current
                 if name not in saved]
    problems += [f'{name}: shape {saved[name]} in the checkpoint, {shape} in the model'
                 for name, shape in current.items() if name in saved and saved[name] != shape]
    return problems


def snapshot(model, opt):
    """Deep copies of the model's and the optimizer's state dicts (used by `lr_find`)."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())


def restore(model, opt, state):
    """Put back exactly what `snapshot` copied."""
    model.load_state_dict(state[0])
    opt.load_state_dict(state[1])
