"""JPEGs decoded on the GPU, a batch at a time, with the resize and augmentation there too.

Reading a folder of photos the usual way, each loader worker decodes a JPEG and resizes,
crops, warps and lights it on the CPU: a few milliseconds an image, so on a GPU that trains
resnet34 at thousands of images a second, the CPU cores set the pace. Here the workers only
read each file's bytes; the main process hands a whole batch of them to the GPU's JPEG
decoder (`torchvision.io.decode_jpeg(..., device='cuda')`), resizes each image's shorter
side and crops it there (at random for training, in the centre otherwise), then augments
and normalises the batch as the in-memory path does (`memory.batch_augment`).

Files the GPU decoder cannot take (PNG, CMYK or otherwise unusual JPEGs, damaged files) are
decoded in the worker with PIL, as on the CPU path (`files.open_image`), and counted once.
`ImageDataLoaders` uses this loader when `default_device()` is a GPU whose torchvision can
decode there; `COURSE_DEVICE_DECODE=0` turns it off, `=1` forces it (on the CPU too, with
torchvision's CPU decoder, which is how the tests run it).
"""
import copy
import os

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg
from torchvision.transforms.v2 import functional as TF

from ..env.device import default_device
from .files import open_image
from .memory import batch_augment

__all__ = ['device_decodes', 'jpeg_components', 'EncodedImages', 'DeviceJpegLoader']

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_checked = {}


def device_decodes(device=None):
    """True when image batches should be decoded on `device` (default `default_device()`).

    `COURSE_DEVICE_DECODE=1` says yes and `0` says no; otherwise yes on a GPU whose
    torchvision decodes JPEGs there (tried once on a tiny image), no elsewhere.

    >>> device_decodes('cpu')       # without COURSE_DEVICE_DECODE=1
    False
    """
    forced = os.environ.get('COURSE_DEVICE_DECODE', '').strip()
    if forced in ('0', '1'):
        return forced == '1'
    device = torch.device(device) if device is not None else default_device()
    if device.type != 'cuda':
        return False
    if device not in _checked:
        try:
            tiny = encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8))
            decode_jpeg([tiny], device=device)
            _checked[device] = True
        except (RuntimeError, TypeError, NotImplementedError) as e:
            print(f'JPEGs are decoded on the CPU: this torchvision cannot decode on {device} '
                  f'({str(e).splitlines()[0][:120]}).')
            _checked[device] = False
    return _checked[device]


def jpeg_components(data):
    """The number of colour components of a JPEG's bytes (1 grey, 3 colour, 4 CMYK), or None
    when the bytes are not a JPEG whose frame header can be found.

    >>> jpeg_components(encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8)).tolist())
    3
    """
    b = bytes(data)
    if b[:2] != b'\xff\xd8':
        return None
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        marker, length = b[i + 1], int.from_bytes(b[i + 2:i + 4], 'big')
        if marker in _SOF:
            return b[i + 9]
        i += 2 + length
    return None


class EncodedImages(Dataset):
    """Item i of an `ImageDataset` as `(pixels, target)` for the device decoder: the file's bytes
    (a 1-D uint8 tensor) when the GPU can decode it (a grey or colour JPEG), else the image
    decoded here with PIL (a 3 x H x W uint8 tensor)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        path = self.dataset.paths[i]
        with open(path, 'rb') as f:
            data = f.read()
        if jpeg_components(data) in (1, 3):
            pixels = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        else:
            pixels = TF.pil_to_tensor(open_image(path))
        return pixels, self.dataset.target(i), i


def _collate(items):
    return ([p for p, _, _ in items], torch.stack([torch.as_tensor(t) for _, t, _ in items]),
            [i for _, _, i in items])


class DeviceJpegLoader:
    """Mini-batches `(x, y)` of an `ImageDataset`, decoded, resized and augmented on `device`.

    Args:
        dataset: the `ImageDataset` (it stays `loader.dataset`).
        size, stats: the image side and the model's (mean, std).
        bs, shuffle, drop_last, num_workers: as in a DataLoader (the workers read files).
        augment: the `Augmentation` for training batches (random crop, then `batch_augment`),
            or None (centre crop: validation, test).
        device: where to decode (default `default_device()`).

    Used by `ImageDataLoaders.from_folder` on a GPU (lessons 01 and 07).
    """

    def __init__(self, dataset, size, stats, bs, shuffle=False, drop_last=False, augment=None,
                 num_workers=0, device=None):
        self.dataset, self.size, self.augment = dataset, size, augment
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_size, self.drop_last = bs, drop_last
        self.files = DataLoader(EncodedImages(dataset), batch_size=bs, shuffle=shuffle,
                                drop_last=drop_last, num_workers=num_workers,
                                collate_fn=_collate, persistent_workers=num_workers > 0,
                                prefetch_factor=4 if num_workers else None)
        self.sampler = self.files.sampler
        self.mean, self.std = (torch.tensor(v, device=self.device).view(1, 3, 1, 1)
                               for v in stats)

    def shard(self, rank, world_size, seed):
        """This process's share under `torchrun`: the same loader whose workers read the files
        a `DistributedSampler` deals out (used by `training.distributed.shard_train`)."""
        part, files = copy.copy(self), self.files
        shuffle = not isinstance(files.sampler, torch.utils.data.SequentialSampler)
        part.sampler = DistributedSampler(files.dataset, world_size, rank, shuffle=shuffle,
                                          seed=seed, drop_last=self.drop_last)
        part.files = DataLoader(files.dataset, batch_size=self.batch_size, sampler=part.sampler,
                                drop_last=self.drop_last, num_workers=files.num_workers,
                                collate_fn=_collate, persistent_workers=files.num_workers > 0,
                                prefetch_factor=files.prefetch_factor)
        return part

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        on_cpu = seen = 0
        for pixels, y, idx in self.files:
            on_cpu, seen = on_cpu + sum(p.dim() == 3 for p in pixels), seen + len(pixels)
            x = torch.stack([self._square(img) for img in self._decode(pixels, idx)])
            x = x.float().div_(255)
            if self.augment is not None:
                x = batch_augment(x, self.size, self.augment)
            yield (x - self.mean) / self.std, y.to(self.device, non_blocking=True)
        if on_cpu and not getattr(self.dataset, 'cpu_decode_noted', False):
            self.dataset.cpu_decode_noted = True          # said once per data set
            print(f'{on_cpu} of {seen} images were decoded on the CPU: they are not grey or '
                  f'colour JPEGs (PNG, CMYK, ...), which the {self.device} decoder cannot take.')

    def _decode(self, pixels, idx):
        """Decode the byte tensors of a batch on the device, all at once (one by one if that
        fails, and with PIL any the decoder refuses); images the workers decoded already are
        moved there."""
        encoded = [i for i, p in enumerate(pixels) if p.dim() == 1]
        out = [p.to(self.device, non_blocking=True) if p.dim() == 3 else None for p in pixels]
        try:
            decoded = decode_jpeg([pixels[i] for i in encoded], mode=ImageReadMode.RGB,
                                  device=self.device) if encoded else []
        except RuntimeError:
            decoded = [self._decode_one(pixels[i], idx[i]) for i in encoded]
        for i, img in zip(encoded, decoded):
            out[i] = img
        return out

    def _decode_one(self, data, i):
        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)
        except RuntimeError:            # PIL decodes it, or raises an ImageError naming the file
            return TF.pil_to_tensor(open_image(self.dataset.paths[i])).to(self.device)

    def _square(self, img):
        """Resize the shorter side to `size`, then crop a square: at random when training."""
        img = TF.resize(img, self.size, antialias=True)
        h, w = img.shape[-2:]
        if self.augment is None:
            top, left = (h - self.size) // 2, (w - self.size) // 2
        else:
            top = int(torch.randint(h - self.size + 1, ()))
            left = int(torch.randint(w - self.size + 1, ()))
        return img[:, top:top + self.size, left:left + self.size]
