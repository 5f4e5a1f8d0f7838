"""A model, layer by layer: what each layer outputs for one batch, and its parameters."""
import pandas as pd
import torch
from torch import nn

__all__ = ['model_summary']


def model_summary(model, x):
    """Run one batch `x` through `model` and list every layer: output shape and parameters.

    A forward hook on each leaf module (one without sub-modules) records the shape of
    what it returns; nothing is trained and the model's mode is restored afterwards.

    Args:
        model: an `nn.Module` (for example `learn.model`).
        x: one input batch on the model's device, e.g. `x, y = dls.one_batch()`.
    Returns:
        a DataFrame with columns `layer` (its name in the model), `type`, `output_shape`,
        `params` and `trainable` (parameters that are not frozen), in the order they ran.

    >>> model_summary(learn.model, x.to(learn.device)).tail()     # doctest: +SKIP

    Used in lesson 02.
    """
    rows, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            params = list(module.parameters(recurse=False))
            rows.append({'layer': name, 'type': type(module).__name__,
                         'output_shape': tuple(out.shape) if torch.is_tensor(out) else None,
                         'params': sum(p.numel() for p in params),
                         'trainable': sum(p.numel() for p in params if p.requires_grad)})
        return hook

    for name, module in model.named_modules():
        if _is_leaf(module):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return pd.DataFrame(rows, columns=['layer', 'type', 'output_shape', 'params', 'trainable'])


def _is_leaf(module: nn.Module):
    """True for a module without sub-modules (a layer that computes something itself)."""
    return not list(module.children())
