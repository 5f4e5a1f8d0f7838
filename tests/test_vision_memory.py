"""Images decoded once into memory and augmented a batch at a time (`in_memory=True`, lesson 02)."""
import pytest
import torch
from torchvision.transforms.v2.functional import to_pil_image

from coursehelpers.training.learner import Learner
from coursehelpers.vision import (Augmentation, ImageDataLoaders, ImageTransform, dihedral,
                                  model_stats, resize_images, side_on_tfms, top_down_tfms)
from coursehelpers.vision.memory import batch_augment, decode_chips
from coursehelpers.vision.models import create_cnn

STATS = model_stats('efficientnet_lite0')


@pytest.fixture
def planet(shared_data):
    return shared_data / 'planet'


def _planet(planet, folder='train-jpg', in_memory=True, bs=16, **kw):
    return ImageDataLoaders.from_csv(planet, 'train_v2.csv', folder, tfms=top_down_tfms,
                                     size=32, bs=bs, stats=STATS, num_workers=0,
                                     in_memory=in_memory, **kw)


def _symmetry(y, x):
    """The k of the dihedral symmetry that turns x into y, or None."""
    return next((k for k in range(8) if torch.allclose(y, dihedral(x, k), atol=1e-5)), None)


def test_batch_augment_without_warp_gives_all_8_symmetries_exactly():
    torch.manual_seed(0)
    x = torch.rand(400, 3, 16, 16)
    y = batch_augment(x, 16, Augmentation(dihedral=True, max_rotate=0, max_zoom=1.0, lighting=0))
    found = [_symmetry(a, b) for a, b in zip(y, x)]
    assert None not in found and set(found) == set(range(8))


def test_batch_augment_side_on_only_flips_horizontally():
    torch.manual_seed(0)
    x = torch.rand(200, 3, 16, 16)
    y = batch_augment(x, 16, Augmentation(flip=True, max_rotate=0, max_zoom=1.0, lighting=0))
    found = {_symmetry(a, b) for a, b in zip(y, x)}
    assert found == {0, 4}                    # unchanged, or mirrored left-right


def test_batch_augment_changes_each_image_differently_and_stays_in_range():
    x = torch.rand(1, 3, 40, 40).expand(8, 3, 40, 40).contiguous()
    y = batch_augment(x, 32, Augmentation(dihedral=True))
    assert y.shape == (8, 3, 32, 32) and 0 <= y.min() and y.max() <= 1
    assert len({round(float(v), 4) for v in y.flatten(1).sum(1)}) == 8


def test_the_transforms_carry_one_description_of_their_augmentation():
    assert top_down_tfms(32).augment == Augmentation(dihedral=True)
    side = side_on_tfms(32, max_rotate=5, max_zoom=1.2, lighting=0.2)
    assert side.augment == Augmentation(flip=True, max_rotate=5.0, max_zoom=1.2, lighting=0.2)
    steps = [type(t).__name__ for t in side.pipeline.transforms]          # built from it
    assert 'RandomHorizontalFlip' in steps and 'RandomDihedral' not in steps
    affine = next(t for t in side.pipeline.transforms if type(t).__name__ == 'RandomAffine')
    assert list(affine.degrees) == [-5.0, 5.0] and list(affine.scale) == [1.0, 1.2]


def test_the_per_image_and_batch_paths_apply_the_same_symmetries():
    """One Augmentation (dihedral, no warp, no lighting) gives the same 8 symmetries per image
    as per batch: the two paths read the same description."""
    aug = Augmentation(dihedral=True, max_rotate=0, max_zoom=1.0, lighting=0)
    tfm = ImageTransform(16, ((0, 0, 0), (1, 1, 1)), aug)                # no normalisation
    pixels = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    x = pixels.float() / 255
    torch.manual_seed(0)
    per_image = {_symmetry(tfm(to_pil_image(pixels)), x) for _ in range(200)}
    batch = {_symmetry(y, x) for y in batch_augment(x.expand(200, 3, 16, 16), 16, aug)}
    assert per_image == batch == set(range(8))


def test_in_memory_refuses_a_transform_that_does_not_describe_its_augmentation(planet):
    with pytest.raises(TypeError, match='in_memory=False'):
        ImageDataLoaders.from_csv(planet, 'train_v2.csv', 'train-jpg', size=32, stats=STATS,
                                  tfms=lambda size, stats: (lambda img: img), in_memory=True)


def test_in_memory_loaders_match_the_per_image_ones(planet):
    per_image, memory = _planet(planet, in_memory=False), _planet(planet)
    assert 'in memory' in repr(memory) and 'in memory' not in repr(per_image)
    assert memory.train_ds.pixels.shape == (560, 3, 32, 32)            # kept by the dataset
    assert memory.train_ds.pixels.dtype == torch.uint8
    assert [len(d) for d in (memory.train, memory.valid)] == [35, 9]
    xv, yv = memory.one_batch('valid')          # on the GPU where there is one (the chips live there)
    ref_x, ref_y = per_image.one_batch('valid')
    assert torch.equal(yv.cpu(), ref_y)                                 # same order, same targets
    assert torch.allclose(xv.cpu(), ref_x, atol=1e-5)                   # the same pixels
    x, y = memory.one_batch()
    assert x.shape == (16, 3, 32, 32) and y.shape == (16, len(memory.classes))
    assert memory.train_ds[0][0].shape == (3, 32, 32)                   # datasets unchanged
    torch.manual_seed(0)
    aug_x, aug_y = next(iter(memory.augmented('valid')))               # TTA: in order, changed
    assert torch.equal(aug_y, yv) and not torch.allclose(aug_x, xv)


def test_in_memory_training_and_tta_through_the_learner(planet):
    dls = _planet(planet, bs=64)
    learn = Learner(create_cnn('efficientnet_lite0', len(dls.classes)), dls,
                    loss_func=torch.nn.BCEWithLogitsLoss(), progress=False)
    learn.freeze_to(-1)
    learn.fit(1e-3, 1)
    preds, y = learn.get_preds()
    probs, y_tta = learn.tta(n=2)
    assert preds.shape == probs.shape == (140, len(dls.classes))
    assert torch.equal(y, y_tta) and torch.equal(y, dls.valid_ds.targets)


def test_in_memory_reads_a_resize_cache_and_refuses_what_does_not_fit(tmp_path, planet, capsys):
    cache = resize_images(planet / 'train-jpg', 32, dest=tmp_path)
    dls = _planet(planet, folder=cache)
    assert dls.in_memory and dls.valid_ds.paths[0].parent == cache
    too_big = ImageDataLoaders(dls.train_ds, dls.valid_ds, bs=16, stats=STATS, size=32,
                               in_memory=True, max_mb=1)
    assert not too_big.in_memory and 'more than max_mb=1' in capsys.readouterr().out
    assert isinstance(too_big.train, torch.utils.data.DataLoader)       # read one by one
    with pytest.raises(ValueError, match='size='):
        ImageDataLoaders(dls.train_ds, dls.valid_ds, in_memory=True)


def test_decode_chips_resizes_and_crops_the_centre_as_validation_does(tmp_path):
    from PIL import Image
    img = Image.new('RGB', (60, 30), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 15, 30))                # a blue band on the left quarter
    img.save(tmp_path / 'wide.png')
    chips = decode_chips([tmp_path / 'wide.png'], 20)
    assert chips.shape == (1, 3, 20, 20) and chips.dtype == torch.uint8
    assert chips[0, 0].float().mean() > 250               # the centre square is all red


def test_from_folder_in_memory_flips_side_on_photos(shared_data):
    dls = ImageDataLoaders.from_folder(shared_data / 'dogscats', size=32, bs=8, stats=STATS,
                                       num_workers=0, in_memory=True)
    assert dls.train.augment.flip and not dls.train.augment.dihedral
    assert dls.valid.augment is None and len(dls.valid_ds) == 100
    x, y = dls.one_batch()
    assert x.shape == (8, 3, 32, 32) and y.dtype == torch.int64


def test_in_memory_shards_under_torchrun_split_the_training_set(planet):
    dls = _planet(planet)
    parts = [dls.train.shard(r, 2, seed=3) for r in (0, 1)]
    ys = [torch.cat([y for _, y in p]) for p in parts]
    assert [len(p) for p in parts] == [len(dls.train) // 2] * 2
    seen = [int(i) for p in parts for i in p.sampler]
    assert len(seen) == len(set(seen)) == len(dls.train_ds) // 2 * 2
    assert sum(len(y) for y in ys) == 2 * len(parts[0]) * dls.batch_size
