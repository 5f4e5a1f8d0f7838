"""Batches decoded by torchvision's JPEG decoder (on the GPU in a lesson; on the CPU here, with
`COURSE_DEVICE_DECODE=1`, which runs the same code with the CPU decoder)."""
import numpy as np
import pytest
import torch
from PIL import Image

from coursehelpers.training.learner import Learner
from coursehelpers.vision.data import ImageDataLoaders
from coursehelpers.vision.device_decode import DeviceJpegLoader, device_decodes, jpeg_components
from coursehelpers.vision.transforms import side_on_tfms

# torchvision 0.29 deprecates its decoders in favour of TorchCodec; the GPU machine's 0.26 does not
pytestmark = pytest.mark.filterwarnings('ignore:The image decoding:DeprecationWarning')


def _photo(seed, w, h):
    """A smooth colour picture (JPEG artefacts on noise would swamp the comparison)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    a, b, c = rng.uniform(0.5, 3, 3)
    img = np.stack([np.sin(a * xx + b * yy), np.cos(b * xx - c * yy), np.sin(c * xx * yy + a)], -1)
    return Image.fromarray(((img + 1) * 127.5).astype(np.uint8))


@pytest.fixture
def folder(tmp_path):
    """train/valid x cats/dogs, JPEGs of several sizes, plus a grey JPEG, a CMYK JPEG and a PNG."""
    k = 0
    for split, n in (('train', 6), ('valid', 5)):
        for cls in ('cats', 'dogs'):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                k += 1
                _photo(k, 80 + 13 * i, 64 + 7 * i).save(d / f'{cls}.{k}.jpg', quality=95)
    _photo(100, 90, 70).convert('L').save(tmp_path / 'train/cats/grey.jpg')
    _photo(101, 90, 70).convert('CMYK').save(tmp_path / 'valid/dogs/cmyk.jpg')
    _photo(102, 90, 70).save(tmp_path / 'valid/cats/png.jpg', format='PNG')
    return tmp_path


def test_the_decision(monkeypatch):
    monkeypatch.delenv('COURSE_DEVICE_DECODE', raising=False)
    assert device_decodes('cpu') is False               # the CPU keeps its PIL workers
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '1')
    assert device_decodes('cpu') is True
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '0')
    assert device_decodes('cuda') is False


def test_jpeg_components(folder):
    read = lambda p: (folder / p).read_bytes()
    assert jpeg_components(read('train/cats/grey.jpg')) == 1
    assert jpeg_components(read('train/cats/cats.1.jpg')) == 3
    assert jpeg_components(read('valid/dogs/cmyk.jpg')) == 4
    assert jpeg_components(read('valid/cats/png.jpg')) is None


def test_batches_match_the_per_image_path(folder, monkeypatch, capsys):
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '0')
    plain = ImageDataLoaders.from_folder(folder, size=48, bs=4, tfms=side_on_tfms)
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '1')
    dls = ImageDataLoaders.from_folder(folder, size=48, bs=4, tfms=side_on_tfms)
    assert isinstance(dls.valid, DeviceJpegLoader) and not isinstance(plain.valid, DeviceJpegLoader)
    x = torch.cat([b[0] for b in dls.valid]).cpu()          # made on the GPU where there is one
    y = torch.cat([b[1] for b in dls.valid]).cpu()
    x0 = torch.cat([b[0] for b in plain.valid])
    assert torch.equal(y, plain.valid_ds.targets) and x.shape == x0.shape == (12, 3, 48, 48)
    # same pictures: JPEG decoders and resize filters differ by a few grey levels at most
    assert (x - x0).abs().mean() < 0.06
    assert 'images were decoded on the CPU' in capsys.readouterr().out   # the CMYK and the PNG
    xb, yb = next(iter(dls.train))
    assert xb.shape == (4, 3, 48, 48) and len(dls.train) == 13 // 4       # drop_last
    assert torch.isfinite(xb).all() and xb.std() > 0.1


def test_learner_trains_predicts_and_tta_with_it(folder, monkeypatch):
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '1')
    dls = ImageDataLoaders.from_folder(folder, size=32, bs=4, tfms=side_on_tfms)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 2))
    learn = Learner(model, dls, progress=False)
    learn.fit(1e-2, 1)
    preds, targets = learn.get_preds()
    probs, targets2 = learn.tta(n=2)
    assert preds.shape == probs.shape == (12, 2) and torch.equal(targets, targets2)
    assert torch.allclose(probs.sum(1), torch.ones(12), atol=1e-4)


def test_shards_under_torchrun_split_the_training_set(folder, monkeypatch):
    """`shard(rank, world, seed)` (what `training.distributed.shard_train` calls): two
    processes' shares of an epoch are disjoint and together the whole set; set_epoch reshuffles."""
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '1')
    dls = ImageDataLoaders.from_folder(folder, size=16, bs=2, tfms=side_on_tfms)
    parts = [dls.train.shard(r, 2, seed=7) for r in (0, 1)]
    assert [len(p) for p in parts] == [3, 3]                           # 13 items, 6 each, bs 2
    seen = [int(i) for p in parts for i in p.sampler]
    assert len(seen) == len(set(seen)) == 12 and set(seen) <= set(range(13))
    first = list(parts[0].sampler)
    parts[0].sampler.set_epoch(1)
    assert list(parts[0].sampler) != first
    assert next(iter(parts[0]))[0].shape == (2, 3, 16, 16)
