"""Image transforms (torchvision.transforms.v2): augmentation for training, resize for validation.

Each function returns an `ImageTransform`: a callable that takes an RGB `PIL.Image` and
returns a normalised float tensor of shape 3 x size x size, and that says what it does
(`size`, `stats`, and `augment`, an `Augmentation` or None). Normalisation uses the model's
own statistics, a pair `(mean, std)` (see `model_stats`).
"""
from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ['IMAGENET_STATS', 'HALF_STATS', 'Augmentation', 'ImageTransform', 'side_on_tfms',
           'top_down_tfms', 'valid_tfms', 'valid_pixels', 'dihedral', 'RandomDihedral',
           'denormalize']

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))   # torchvision ResNets
HALF_STATS = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))                    # efficientnet-lite0 weights


@dataclass(frozen=True)
class Augmentation:
    """The training augmentation, described once; both ways of applying it read this.

    `ImageTransform` applies it to one PIL image at a time (torchvision v2, in the
    loader's workers); `batch_augment` applies it to a whole mini-batch of images decoded
    into memory (`ImageDataLoaders(in_memory=True)`). The kinds and amounts are the same.

    Attributes:
        flip: a horizontal flip half of the time (photos taken from the side).
        dihedral: one of the 8 dihedral symmetries (pictures seen from above).
        max_rotate: rotation up to this many degrees, either way.
        max_zoom: zoom in by a factor from 1 up to this.
        lighting: brightness and contrast changed by up to this fraction.

    >>> Augmentation(dihedral=True)
    Augmentation(flip=False, dihedral=True, max_rotate=10.0, max_zoom=1.1, lighting=0.1)
    """
    flip: bool = False
    dihedral: bool = False
    max_rotate: float = 10.0
    max_zoom: float = 1.1
    lighting: float = 0.1


class ImageTransform:
    """PIL image -> normalised float tensor 3 x size x size: resize, crop, augment, normalise.

    With `augment` (an `Augmentation`): resize the shorter side, random square crop, then
    the augmentation. Without: resize and centre crop, no randomness (validation, test).
    `size`, `stats` and `augment` are attributes: the in-memory loaders, `precomputed` and
    `export` read them instead of looking inside the torchvision pipeline (`pipeline`).

    >>> ImageTransform(64, augment=Augmentation(flip=True)).augment.flip
    True
    """

    def __init__(self, size, stats=IMAGENET_STATS, augment=None):
        self.size, self.augment = size, augment
        self.stats = tuple(tuple(float(v) for v in s) for s in stats)
        self.pipeline = v2.Compose(_steps(size, self.stats, augment))

    def __call__(self, img):
        return self.pipeline(img)

    def __repr__(self):
        return f'ImageTransform(size={self.size}, stats={self.stats}, augment={self.augment})'


def side_on_tfms(size, stats=IMAGENET_STATS, max_rotate=10, max_zoom=1.1, lighting=0.1):
    """Training augmentation for photos taken from the side (cats, dogs, people).

    Resize the shorter side to `size`, random square crop, random horizontal flip,
    rotation up to `max_rotate` degrees, zoom up to `max_zoom`, brightness and
    contrast changed by up to `lighting`, then normalise with `stats`.
    There is no vertical flip: a cat upside down is not a realistic photo.

    Args:
        size: output side in pixels.
        stats: (mean, std) of the pretrained model, e.g. `model_stats('resnet34')`.
    Returns:
        an `ImageTransform`: PIL image -> float tensor 3 x size x size.

    >>> tfm = side_on_tfms(224)
    >>> tfm(open_image(path)).shape            # doctest: +SKIP
    torch.Size([3, 224, 224])

    Used in lessons 01 and 07.
    """
    return ImageTransform(size, stats, Augmentation(flip=True, max_rotate=float(max_rotate),
                                                    max_zoom=float(max_zoom),
                                                    lighting=float(lighting)))


def top_down_tfms(size, stats=IMAGENET_STATS, max_rotate=10, max_zoom=1.1, lighting=0.1):
    """Training augmentation for pictures seen from above (satellite chips, microscopy).

    Like `side_on_tfms`, but instead of a horizontal flip it applies one of the
    8 dihedral symmetries at random (rotations by 0, 90, 180, 270 degrees, with or
    without a flip): seen from above, every orientation is equally plausible.

    Returns:
        an `ImageTransform`: PIL image -> float tensor 3 x size x size.

    >>> tfm = top_down_tfms(64, stats=model_stats('resnet34'))      # doctest: +SKIP

    Used in lesson 02.
    """
    return ImageTransform(size, stats, Augmentation(dihedral=True, max_rotate=float(max_rotate),
                                                    max_zoom=float(max_zoom),
                                                    lighting=float(lighting)))


def valid_tfms(size, stats=IMAGENET_STATS):
    """The validation (and test) transform: resize the shorter side, crop the centre, normalise.

    Returns:
        an `ImageTransform` with no augmentation: PIL image -> float tensor 3 x size x size.

    >>> valid_tfms(224)(open_image(path)).shape        # doctest: +SKIP
    torch.Size([3, 224, 224])

    Used by `ImageDataLoaders.from_folder` (lessons 01 and 07),
    `ImageDataLoaders.from_csv` (lesson 02) and `load_learner` (lesson 07).
    """
    return ImageTransform(size, stats)


def valid_pixels(size):
    """The geometric part of `valid_tfms`: resize the shorter side, crop the centre, to a uint8
    tensor 3 x size x size (no normalisation). Images kept in memory are stored this way.

    Used by `valid_tfms` and by `ImageDataLoaders.from_csv` (lesson 02, `in_memory=True`).
    """
    return v2.Compose([v2.Resize(size), v2.CenterCrop(size), v2.ToImage()])


def _steps(size, stats, augment):
    """The torchvision v2 steps of an `ImageTransform`, in the order they run.

    The flip, rotation, zoom and lighting come before `ToImage`, so they run on the PIL
    image: PIL's C code warps and brightens a small image 2 to 5 times faster than the
    same transforms on a tensor. The dihedral symmetry works on the tensor.
    """
    if augment is None:
        return [*valid_pixels(size).transforms, *_to_float(stats)]
    a = augment
    return [v2.Resize(size), v2.RandomCrop(size), *([v2.RandomHorizontalFlip()] if a.flip else []),
            v2.RandomAffine(degrees=a.max_rotate, scale=(1.0, a.max_zoom),
                            interpolation=v2.InterpolationMode.BILINEAR),
            v2.ColorJitter(brightness=a.lighting, contrast=a.lighting), v2.ToImage(),
            *([RandomDihedral()] if a.dihedral else []), *_to_float(stats)]


def _to_float(stats):
    """uint8 image tensor -> float in [0, 1] -> normalised with (mean, std)."""
    mean, std = stats
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


def dihedral(x, k):
    """Apply the k-th of the 8 dihedral symmetries (k = 0..7) to an image tensor (... x H x W).

    k % 4 counts quarter turns (anticlockwise); k >= 4 adds a horizontal flip.
    k = 0 returns the image unchanged.

    >>> dihedral(torch.tensor([[1, 2], [3, 4]]), 1)
    tensor([[2, 4],
            [1, 3]])

    Used in lesson 02 (augmentation and test-time augmentation).
    """
    if not 0 <= k < 8:
        raise ValueError(f'dihedral: k must be 0..7 (the 8 symmetries of a square), got {k}.')
    out = torch.rot90(x, k % 4, dims=(-2, -1))
    out = out.flip(-1) if k >= 4 else out
    return tv_tensors.Image(out) if isinstance(x, tv_tensors.Image) else out


class RandomDihedral:
    """Transform: one of the 8 dihedral symmetries, chosen uniformly at random (torch's RNG).

    Takes and returns an image tensor; put it after `v2.ToImage()`.

    >>> RandomDihedral()(torch.zeros(3, 4, 4)).shape
    torch.Size([3, 4, 4])

    Used by `top_down_tfms` (lesson 02).
    """

    def __call__(self, x):
        return dihedral(x, int(torch.randint(8, ())))

    def __repr__(self):
        return 'RandomDihedral()'


def denormalize(x, mean, std):
    """Undo `Normalize`: back to pixel values in [0, 1] for display.

    Args:
        x: a normalised image (3 x H x W) or batch (N x 3 x H x W).
        mean, std: the 3 values used to normalise.
    Returns:
        a tensor of the same shape, clamped to [0, 1] (channels first).

    >>> img = denormalize(x[0], *model_stats('resnet34')).permute(1, 2, 0)   # doctest: +SKIP
    >>> plt.imshow(img)                                                       # doctest: +SKIP

    Used in lesson 02 and by `show_batch`.
    """
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1)
