"""BatchNorm folded into the frozen parts of the lesson CNNs: same outputs, used only when right."""
import pytest
import torch
from torch import nn

from coursehelpers.vision.batchnorm_folding import can_fold, fold_batchnorm
from coursehelpers.vision.models import ARCHS, create_cnn


def _cnn(arch, seed=0):
    """A CNN with random weights and random BatchNorm statistics (so folding changes numbers)."""
    torch.manual_seed(seed)
    model = create_cnn(arch, n_out=3, pretrained=False)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model


def _plain(model, x):
    model.fold_bn = False
    try:
        return model(x)
    finally:
        model.fold_bn = True


def _copies(model):
    return sum(len(c) for c in model._folded.copies.values())


@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_folded_body_gives_the_same_outputs(arch):
    model = _cnn(arch).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        folded, plain = model(x), _plain(model, x)
    assert _copies(model) == 2                              # both halves ran folded
    assert torch.allclose(folded, plain, rtol=1e-4, atol=1e-4 * plain.abs().max().item())
    copy = next(iter(model._folded.copies[0].values()))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in copy.modules())
    assert not any(p.requires_grad for p in copy.parameters())
    after = model.state_dict()
    assert after.keys() == before.keys()                    # the copies are not part of the model
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_fold_keeps_timm_activation_and_plain_layers():
    body = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4, affine=False)).eval()
    body[1].running_mean.fill_(0.3)
    body[4].running_var.fill_(4.0)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(fold_batchnorm(body)(x), body(x), atol=1e-5)
    lite = create_cnn('efficientnet_lite0', 2, pretrained=False).eval()
    folded = fold_batchnorm(lite.body)
    acts = [type(m).__name__ for m in folded.modules() if isinstance(m, (nn.ReLU6, nn.ReLU))]
    plain = [type(m).__name__ for m in lite.body.modules() if isinstance(m, (nn.ReLU6, nn.ReLU))]
    assert acts == plain and acts                           # BatchNormAct2d's ReLU6 survives


def test_frozen_training_folds_and_gives_the_head_the_same_gradients():
    model = _cnn('resnet18').train()
    model.body.requires_grad_(False)
    for m in model.body.modules():                           # what Learner.freeze does
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 1])
    grads = []
    for fold in (True, False):
        model.fold_bn = fold
        model.zero_grad()
        torch.manual_seed(1)                                 # the same dropout in the head
        nn.functional.cross_entropy(model(x), y).backward()
        grads.append([p.grad.clone() for p in model.head.parameters()])
    assert _copies(model) == 2
    for g_folded, g_plain in zip(*grads):
        scale = g_plain.abs().max().item()
        assert torch.allclose(g_folded, g_plain, rtol=1e-3, atol=1e-3 * scale)


def test_training_layers_are_never_folded():
    model = _cnn('resnet18').train()                         # unfrozen: BatchNorm uses the batch
    x = torch.randn(4, 3, 32, 32)
    model(x).sum().backward()
    assert _copies(model) == 0
    assert all(p.grad is not None for p in model.body.parameters())
    # first half frozen (freeze_to(1)): only that half is folded, the second still trains
    model.zero_grad()
    first, second = model.layer_groups()[:2]
    first.requires_grad_(False)
    for m in first.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    assert can_fold(first) and not can_fold(second)
    model(x).sum().backward()
    assert list(model._folded.copies) == [0]
    assert all(p.grad is not None for p in second.parameters())


def test_folded_copy_follows_weight_changes():
    model = _cnn('resnet18').eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        first = model(x)
        model.body[0].weight.mul_(1.5)                       # an optimizer step, in place
        second = model(x)
        assert not torch.allclose(first, second)
        assert torch.allclose(second, _plain(model, x), rtol=1e-4, atol=1e-5)
        model.load_state_dict(_cnn('resnet18', seed=1).state_dict())
        assert torch.allclose(model(x), _plain(model, x), rtol=1e-4, atol=1e-5)


def test_hooks_see_every_layer():
    model = _cnn('resnet18').eval()
    seen = []
    handle = model.body[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    handle.remove()
    assert seen == [torch.Size([1, 64, 16, 16])]             # the BatchNorm layer ran
    assert not can_fold(nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1)))   # training mode


def test_model_summary_still_lists_every_batchnorm():
    from coursehelpers.tools.summary import model_summary
    model = _cnn('resnet18')
    df = model_summary(model, torch.randn(2, 3, 32, 32))
    body_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.body.modules())
    assert (df['type'] == 'BatchNorm2d').sum() == body_bn == 20
    assert _copies(model) == 0                               # the hooks kept the real layers
