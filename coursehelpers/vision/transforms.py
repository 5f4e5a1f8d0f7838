"""Image transforms (torchvision.transforms.v2): augmentation for training, resize for validation.

Each function returns one callable that takes an RGB `PIL.Image` and returns a
normalised float tensor of shape 3 x size x size. Normalisation uses the model's
own statistics, a pair `(mean, std)` (see `model_stats`).
"""
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ['IMAGENET_STATS', 'HALF_STATS', 'side_on_tfms', 'top_down_tfms', 'valid_tfms',
           'valid_pixels', 'dihedral', 'RandomDihedral', 'denormalize']

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))   # torchvision ResNets
HALF_STATS = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))                    # efficientnet-lite0 weights


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
        a callable PIL image -> float tensor 3 x size x size.

    >>> tfm = side_on_tfms(224)
    >>> tfm(open_image(path)).shape            # doctest: +SKIP
    torch.Size([3, 224, 224])

    Used in lesson 01.
    """
    return v2.Compose([v2.Resize(size), v2.RandomCrop(size), v2.RandomHorizontalFlip(),
                       *_small_changes(max_rotate, max_zoom, lighting), v2.ToImage(),
                       *_to_float(stats)])


def top_down_tfms(size, stats=IMAGENET_STATS, max_rotate=10, max_zoom=1.1, lighting=0.1):
    """Training augmentation for pictures seen from above (satellite chips, microscopy).

    Like `side_on_tfms`, but instead of a horizontal flip it applies one of the
    8 dihedral symmetries at random (rotations by 0, 90, 180, 270 degrees, with or
    without a flip): seen from above, every orientation is equally plausible.

    Returns:
        a callable PIL image -> float tensor 3 x size x size.

    >>> tfm = top_down_tfms(64, stats=model_stats('resnet34'))      # doctest: +SKIP

    Used in lesson 02.
    """
    return v2.Compose([v2.Resize(size), v2.RandomCrop(size),
                       *_small_changes(max_rotate, max_zoom, lighting), v2.ToImage(),
                       RandomDihedral(), *_to_float(stats)])


def valid_tfms(size, stats=IMAGENET_STATS):
    """The validation (and test) transform: resize the shorter side, crop the centre, normalise.

    Returns:
        a callable PIL image -> float tensor 3 x size x size, with no randomness.

    >>> valid_tfms(224)(open_image(path)).shape        # doctest: +SKIP
    torch.Size([3, 224, 224])

    Used in lessons 01 and 02.
    """
    return v2.Compose([*valid_pixels(size).transforms, *_to_float(stats)])


def valid_pixels(size):
    """The geometric part of `valid_tfms`: resize the shorter side, crop the centre, to a uint8
    tensor 3 x size x size (no normalisation). Images kept in memory are stored this way.

    Used by `ImageDataLoaders(in_memory=True)` (lesson 02).
    """
    return v2.Compose([v2.Resize(size), v2.CenterCrop(size), v2.ToImage()])


def _small_changes(max_rotate, max_zoom, lighting):
    """Random small rotation and zoom (one affine warp) and lighting.

    They come before `ToImage`, so they run on the PIL image: PIL's C code warps and
    brightens a small image 2 to 5 times faster than the same transforms on a tensor.
    """
    return [v2.RandomAffine(degrees=max_rotate, scale=(1.0, max_zoom),
                            interpolation=v2.InterpolationMode.BILINEAR),
            v2.ColorJitter(brightness=lighting, contrast=lighting)]


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

    Used in lesson 02.
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

    Used in lessons 01 and 02.
    """
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1)
