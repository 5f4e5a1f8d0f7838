"""Folding BatchNorm into the convolution before it, for the parts of a CNN that do not train.

In eval mode a BatchNorm layer is a fixed scale and shift per channel:
`y = (x - mean) / sqrt(var + eps) * gamma + beta`. When it directly follows a convolution,
the same result comes from that convolution alone, with its weights multiplied by the scale
and the shift added to its bias. On a CPU this saves a full pass over every activation map:
with EfficientNet-Lite0 on 2 cores, a training step with the body frozen and a validation pass
take 1.4 to 1.7 times less time (`benchmarks/bench_batchnorm_folding.py`).

Folding is only right while nothing in the part trains and its BatchNorm layers use their
stored statistics, so `CNN` folds a copy of each half of its body when that holds (a frozen
body, or any evaluation without gradients) and runs the real layers otherwise.
"""
import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['fold_batchnorm', 'fold_key', 'can_fold', 'FoldCache']


def fold_batchnorm(module):
    """A copy of `module` with every BatchNorm2d that follows a Conv2d folded into that Conv2d.

    "Follows" means: the next layer registered in the same parent module, which is the order the
    layers run in for the CNNs of this package (torchvision ResNets, timm EfficientNet-Lite0).
    Other layers are copied unchanged; `module` itself is not touched. The copy is for
    inference: its parameters do not require gradients, and BatchNorm layers are assumed to be
    in eval mode (use `can_fold` first).

    >>> body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).eval()
    >>> x = torch.randn(2, 3, 16, 16)
    >>> torch.allclose(fold_batchnorm(body)(x), body(x), atol=1e-5)
    True

    Used by `CNN`, which `cnn_learner` builds (lessons 01, 02 and 07).
    """
    folded = copy.deepcopy(module)
    _fold_children(folded)
    for p in folded.parameters():
        p.grad = None                       # the copy is for inference: no stale gradients
    return folded.requires_grad_(False)


def _fold_children(module):
    """Fold, in place, each Conv2d -> BatchNorm2d pair among the children of `module` (recursively)."""
    names = list(module._modules)
    for prev, name in zip([None] + names, names):
        child, conv = module._modules[name], module._modules.get(prev)
        if (isinstance(child, (nn.BatchNorm2d, nn.SyncBatchNorm)) and isinstance(conv, nn.Conv2d)
                and child.running_var is not None and conv.out_channels == child.num_features):
            module._modules[prev] = _folded_conv(conv, child)
            # timm's BatchNormAct2d applies dropout and an activation after normalising
            rest = [m for m in (getattr(child, 'drop', None), getattr(child, 'act', None))
                    if m is not None]
            module._modules[name] = nn.Sequential(*rest) if rest else nn.Identity()
        elif child is not None:
            _fold_children(child)


@torch.no_grad()
def _folded_conv(conv, bn):
    """`conv` (already a copy) with `bn`'s scale in its weights and its shift in its bias."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.affine:
        scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
    bias = conv.bias * scale + shift if conv.bias is not None else shift
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
    return conv


def fold_key(part):
    """None when `part` must run as it is; else a key of what its folded copy depends on.

    Folding gives the same outputs and loses nothing when every BatchNorm layer in `part`
    uses its stored statistics (eval mode), no gradient is wanted for its parameters (none
    requires one, or gradients are off) and no module in it carries a hook (a hook on a
    folded-away layer would never fire: `model_summary` uses hooks). The key holds the
    storage and version counter of each tensor (an optimizer step or `load_state_dict` bumps
    the version, `.to(device)` changes the storage) and the train/eval mode of each module (the
    copy runs its layers in the modes they had when it was made). One walk over the modules:
    it runs before every forward pass.
    """
    grad = torch.is_grad_enabled()
    tensors, modes = [], []
    for m in part.modules():
        if m._forward_hooks or m._forward_pre_hooks or (m.training and isinstance(m, _BatchNorm)):
            return None
        modes.append(m.training)
        for p in m._parameters.values():
            if p is not None:
                if grad and p.requires_grad:
                    return None
                tensors.append((p.data_ptr(), p._version))
        tensors += [(b.data_ptr(), b._version) for b in m._buffers.values() if b is not None]
    hooks = nn.modules.module
    if hooks._global_forward_hooks or hooks._global_forward_pre_hooks:
        return None
    return tuple(tensors), tuple(modes)


def can_fold(part):
    """True when `part` can run as its folded copy now (see `fold_key`)."""
    return fold_key(part) is not None


class FoldCache:
    """Folded copies of parts of a model, one per `fold_key`: rebuilt when weights or modes change.

    At most `keep` copies per part are kept: one for training, one for validation.
    """

    def __init__(self, keep=2):
        self.keep, self.copies = keep, {}

    def get(self, index, part, key):
        """The folded copy of `part` (the `index`-th part of the model) for `key`, made if needed."""
        copies = self.copies.setdefault(index, {})
        if key not in copies:
            while len(copies) >= self.keep:
                copies.pop(next(iter(copies)))
            copies[key] = fold_batchnorm(part)
        return copies[key]
