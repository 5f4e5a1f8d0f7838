"""Small images decoded once into memory and augmented a whole mini-batch at a time.

With 64-pixel images the network's work is small, and what an epoch costs is mostly reading
each image: decoding the JPEG, then a chain of per-image transforms. A resize cache makes the
JPEGs small; this module removes the rest. Every image is decoded ONCE, resized and
centre-cropped exactly as for validation (`valid_pixels`), into a uint8 tensor
N x 3 x size x size; each mini-batch is then augmented as a whole: one affine warp per image
through `grid_sample` (a dihedral symmetry or a horizontal flip, a rotation, a zoom), then
brightness and contrast, then normalisation. Batches without augmentation are exactly the
per-image validation transform's output.
Both paths read one description of the augmentation, `transforms.Augmentation`.
On a GPU (`default_device()` decides) the decoded uint8 images move to the GPU once, and
each batch is indexed, warped, lit and normalised there: the loader hands the Learner
batches already on the device. The random draws stay on the CPU (a few numbers per image),
so a seed gives the same augmentation on every device.
`ImageDataLoaders.from_csv(..., in_memory=True)` builds these loaders (lesson 02);
`benchmarks/bench_resize_cache.py` measures them against decoding the originals.
"""
import copy
import math
import os
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from ..env.device import default_device, memory_budget_mb
from .files import open_image
from .transforms import valid_pixels

__all__ = ['batch_augment', 'decode_chips', 'fits_in_memory', 'ChipLoader']

# the 4 quarter turns as 2 x 2 matrices acting on (x, y) sampling coordinates
_QUARTER_TURNS = torch.tensor([[[1., 0.], [0., 1.]], [[0., -1.], [1., 0.]],
                               [[-1., 0.], [0., -1.]], [[0., 1.], [-1., 0.]]])


def batch_augment(x, size, augment):
    """Random augmentation of a whole batch: N x 3 x H x W floats in [0, 1] -> N x 3 x size x size.

    `augment` is the `Augmentation` the per-image transform applies. Each image gets its own
    random warp (one `grid_sample`: a rotation up to `max_rotate` degrees and a zoom up to
    `max_zoom`, with one of the 8 dihedral symmetries if `dihedral`, else a horizontal flip
    half of the time if `flip`), then its own brightness and contrast change of up to
    `lighting`. Corners the warp uncovers are black, as with `RandomAffine`.

    >>> batch_augment(torch.rand(4, 3, 64, 64), 64, Augmentation(dihedral=True)).shape
    torch.Size([4, 3, 64, 64])

    Used by `ChipLoader`, which `ImageDataLoaders.from_csv` builds (lesson 02,
    `in_memory=True`).
    """
    n, a = len(x), augment
    angle = torch.empty(n).uniform_(-a.max_rotate, a.max_rotate) * math.pi / 180
    zoom = torch.empty(n).uniform_(1.0, a.max_zoom)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    warp = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # N x 2 x 2
    mirror = torch.ones(n, 1, 2)
    if a.dihedral:
        k = torch.randint(8, (n,))
        mirror[k >= 4, 0, 0] = -1
        warp = _QUARTER_TURNS[k % 4] @ (warp * mirror)
    elif a.flip:
        mirror[torch.rand(n) < 0.5, 0, 0] = -1
        warp = warp * mirror
    theta = torch.cat([warp, torch.zeros(n, 2, 1)], 2).to(x.device)                   # N x 2 x 3
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=False)
    x = F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    if a.lighting:
        bright, contrast = torch.empty(2, n, 1, 1, 1).uniform_(
            1 - a.lighting, 1 + a.lighting).to(x.device)
        x = (x * bright).clamp_(0, 1)
        luma = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        grey = (x * luma).sum(1).mean((1, 2))
        x = ((x - grey.view(n, 1, 1, 1)) * contrast + grey.view(n, 1, 1, 1)).clamp_(0, 1)
    return x


def decode_chips(paths, size):
    """Decode every image once into a uint8 tensor N x 3 x size x size (`valid_pixels`), on
    every core (PIL decodes outside Python's lock, so threads run in parallel).

    Used by `ImageDataLoaders(in_memory=True)`.
    """
    pixels = valid_pixels(size)
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        images = pool.map(lambda p: pixels(open_image(p)), paths)
        bar = tqdm(images, total=len(paths), desc=f'decode into memory at {size}px',
                   disable=len(paths) < 2000, leave=False)   # a bar only for the full data sets
        return torch.stack(list(bar)).as_subclass(torch.Tensor)


def fits_in_memory(datasets, size, max_mb=None):
    """True when the images of `datasets`, decoded at `size`, take at most `max_mb` megabytes
    (default `memory_budget_mb()`: a quarter of the RAM, and of the GPU's memory on a GPU);
    otherwise False, with a message that says so.

    Used by `ImageDataLoaders(in_memory=True)`.
    """
    if not size:
        raise ValueError('in_memory=True needs the image size: pass size= as well.')
    max_mb = memory_budget_mb() if max_mb is None else max_mb
    n = sum(len(ds) for ds in datasets)
    mb = n * 3 * size ** 2 / 2**20
    if mb > max_mb:
        print(f'in_memory: {n} images of {size} x {size} pixels would take {mb:,.0f} MB, more '
              f'than max_mb={max_mb}; reading them one by one instead (pass a larger max_mb if '
              'this machine has the memory).')
        return False
    return True


class ChipLoader:
    """Mini-batches `(x, y)` of an `ImageDataset` from its images decoded once into memory.

    Args:
        dataset: the `ImageDataset`; it keeps its decoded images (`dataset.decoded(size)`)
            and stays `loader.dataset`.
        size, stats: the image side and the model's (mean, std).
        bs, shuffle, drop_last: as in a DataLoader.
        augment: the `Augmentation` to apply to each batch (`batch_augment`), or None.
        device: where the images live and batches are made (default `default_device()`).

    Used by `ImageDataLoaders.from_csv` (lesson 02, `in_memory=True`).
    """

    def __init__(self, dataset, size, stats, bs, shuffle=False, drop_last=False, augment=None,
                 device=None):
        self.dataset, self.size, self.augment = dataset, size, augment
        self.device = torch.device(device) if device is not None else default_device()
        self.chips = dataset.decoded(size, self.device)
        self.batch_size, self.shuffle, self.drop_last = bs, shuffle, drop_last
        self.targets = torch.stack([torch.as_tensor(dataset.target(i))
                                    for i in range(len(dataset))]).to(self.device)
        self.mean, self.std = (torch.tensor(v, device=self.device).view(1, 3, 1, 1)
                               for v in stats)
        self.sampler = None                 # under torchrun: this process's DistributedSampler

    def shard(self, rank, world_size, seed):
        """This process's share under `torchrun`: the same loader drawing its items from a
        `DistributedSampler` (used by `training.distributed.shard_train`)."""
        part = copy.copy(self)
        part.sampler = DistributedSampler(self.dataset, world_size, rank, shuffle=self.shuffle,
                                          seed=seed, drop_last=self.drop_last)
        return part

    def __len__(self):
        n = len(self.chips) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        bs = self.batch_size
        if self.sampler is not None:
            order = torch.tensor(list(self.sampler))
        else:
            n = len(self.chips)
            order = torch.randperm(n) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * bs:(b + 1) * bs].to(self.device)
            x = self.chips[idx].float().div_(255)
            if self.augment is not None:
                x = batch_augment(x, self.size, self.augment)
            yield (x - self.mean) / self.std, self.targets[idx]
