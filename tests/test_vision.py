"""Vision data: opening images, folder and CSV loaders, bad inputs, transforms, caches, splits.

Real images come from the sample mirror (../shared/data), copied into tmp_path when a test
writes; bad inputs are tiny synthetic images made with PIL.
"""
import os
import shutil

import matplotlib
import pandas as pd
import pytest
import torch
from PIL import Image

from coursehelpers.vision import (IMAGENET_STATS, DataBlock, ImageDataLoaders, ImageError,
                                  RandomDihedral, denormalize, dihedral, folder_splitter,
                                  get_image_files, open_image, parent_label, resize_images,
                                  side_on_tfms, split_folder, top_down_tfms, valid_tfms,
                                  verify_images)
from coursehelpers.vision.show import show_batch

matplotlib.use('Agg')


@pytest.fixture(autouse=True)
def per_image_loaders(monkeypatch):
    """These tests read the per-image loaders of the CPU workers; on a GPU the folders are
    decoded there instead, which tests/test_device_decode.py covers."""
    monkeypatch.setenv('COURSE_DEVICE_DECODE', '0')


def _img(path, mode='RGB', size=(40, 30), color=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new(mode, size, color if color is not None else 0)
    img.save(path)
    return path


def _copy_some(src, dest, n):
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir())[:n]:
        shutil.copy2(f, dest / f.name)


@pytest.fixture
def dogscats(shared_data, tmp_path):
    """A writable copy of 6 + 3 photos per class from the real dogscats sample."""
    root = tmp_path / 'dogscats'
    for split, n in (('train', 6), ('valid', 3)):
        for cls in ('cats', 'dogs'):
            _copy_some(shared_data / 'dogscats' / split / cls, root / split / cls, n)
    return root


@pytest.fixture
def planet(shared_data):
    return shared_data / 'planet'


# ---- opening images -------------------------------------------------------------------------

@pytest.mark.parametrize('mode,color,name', [('CMYK', (0, 255, 255, 0), 'a.jpg'),
                                             ('L', 128, 'b.png'), ('RGBA', (9, 9, 9, 0), 'c.png'),
                                             ('P', 3, 'd.gif'), ('LA', (5, 255), 'e.png')])
def test_every_mode_opens_as_rgb_and_gives_3_channels(tmp_path, mode, color, name):
    path = _img(tmp_path / name, mode, color=color)
    assert Image.open(path).mode == mode
    img = open_image(path)
    assert img.mode == 'RGB'
    assert valid_tfms(16)(img).shape == (3, 16, 16)


def test_cmyk_red_stays_red_and_transparent_becomes_white(tmp_path):
    red = open_image(_img(tmp_path / 'red.jpg', 'CMYK', color=(0, 255, 255, 0))).getpixel((5, 5))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    clear = open_image(_img(tmp_path / 'clear.png', 'RGBA', color=(0, 0, 0, 0)))
    assert clear.getpixel((0, 0)) == (255, 255, 255)


def test_real_planet_chip_is_cmyk_and_opens_as_rgb(planet):
    chip = planet / 'train-jpg' / 'train_7.jpg'
    assert Image.open(chip).mode == 'CMYK'
    assert open_image(chip).mode == 'RGB'


def test_corrupt_and_truncated_files_are_named(tmp_path, planet):
    garbage = tmp_path / 'garbage.jpg'
    garbage.write_bytes(b'this is not a jpeg')
    whole = (planet / 'train-jpg' / 'train_7.jpg').read_bytes()
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(whole[:len(whole) // 3])
    good = _img(tmp_path / 'good.jpg')
    for bad in (garbage, truncated):
        with pytest.raises(ImageError, match=bad.name):
            open_image(bad)
    assert verify_images([good, garbage, truncated]) == [garbage, truncated]
    assert verify_images([good, garbage, truncated], decode=False) == [garbage]


# ---- from_folder ----------------------------------------------------------------------------

def test_from_folder_on_real_photos(dogscats):
    _copy_some(dogscats / 'valid' / 'cats', dogscats / 'test1', 2)
    dls = ImageDataLoaders.from_folder(dogscats, test='test1', size=32, bs=4, num_workers=0)
    assert dls.classes == ['cats', 'dogs'] and not dls.multi_label
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.test_ds)) == (12, 6, 2)
    x, y = dls.one_batch()
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64
    labels = [dls.classes[int(t)] for t in dls.valid_ds.targets]
    assert labels == [parent_label(p) for p in dls.valid_ds.paths] == ['cats'] * 3 + ['dogs'] * 3
    assert next(iter(dls.loader('test')))[1].tolist() == [-1, -1]
    assert dls.train.pin_memory == torch.cuda.is_available()
    assert dls.batch_size == 4


def test_augmented_loader_keeps_order_and_augments(dogscats):
    dls = ImageDataLoaders.from_folder(dogscats, size=32, bs=6, num_workers=0)
    plain_x, plain_y = next(iter(dls.valid))
    torch.manual_seed(0)
    aug_x, aug_y = next(iter(dls.augmented('valid')))
    assert torch.equal(plain_y, aug_y)
    assert not torch.allclose(plain_x, aug_x)
    with pytest.raises(ValueError, match='no test set'):
        dls.loader('test')


def test_from_folder_missing_folder_lists_what_is_there(tmp_path):
    _img(tmp_path / 'training' / 'cats' / 'a.jpg')
    with pytest.raises(FileNotFoundError) as err:
        ImageDataLoaders.from_folder(tmp_path, num_workers=0)
    msg = str(err.value)
    assert 'training/' in msg and 'train/<class>/*.jpg' in msg and str(tmp_path / 'train') in msg


def test_from_folder_empty_class_folder_is_named(tmp_path):
    _img(tmp_path / 'train' / 'cats' / 'a.jpg')
    (tmp_path / 'train' / 'dogs').mkdir()
    _img(tmp_path / 'valid' / 'cats' / 'b.jpg')
    with pytest.raises(ValueError, match=r'class folder .*train/dogs has no images'):
        ImageDataLoaders.from_folder(tmp_path, num_workers=0)


def test_from_folder_loose_images_explain_the_layout(tmp_path):
    _img(tmp_path / 'train' / 'a.jpg')
    with pytest.raises(ValueError, match='one sub-folder per class'):
        ImageDataLoaders.from_folder(tmp_path, num_workers=0)


def test_from_folder_corrupt_jpeg_is_named_before_training(dogscats):
    bad = dogscats / 'train' / 'dogs' / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8 not really')
    with pytest.raises(ImageError, match='broken.jpg'):
        ImageDataLoaders.from_folder(dogscats, num_workers=0)


def test_truncated_jpeg_in_a_worker_names_the_file(dogscats, planet):
    whole = (planet / 'train-jpg' / 'train_7.jpg').read_bytes()
    for f in (dogscats / 'valid' / 'cats').iterdir():
        f.write_bytes(whole[:len(whole) // 3])         # headers fine, pixels missing
    dls = ImageDataLoaders.from_folder(dogscats, size=16, bs=2, num_workers=1)
    with pytest.raises(Exception, match=r'Cannot read the image .*valid/cats/'):
        next(iter(dls.valid))


# ---- from_csv -------------------------------------------------------------------------------

def test_planet_csv_is_multi_label(planet):
    df = pd.read_csv(planet / 'train_v2.csv')
    tags = sorted({t for row in df.tags for t in row.split(' ')})
    dls = ImageDataLoaders.from_csv(planet, 'train_v2.csv', 'train-jpg', tfms=top_down_tfms,
                                    size=32, bs=8, num_workers=0)
    assert dls.multi_label and dls.classes == tags and len(tags) >= 16
    assert len(dls.train_ds) + len(dls.valid_ds) == len(df) and len(dls.valid_ds) == 140
    x, y = dls.one_batch('valid')
    assert x.shape == (8, 3, 32, 32) and y.shape == (8, len(tags)) and y.dtype == torch.float32
    name = dls.valid_ds.paths[0].stem
    expected = sorted(df.set_index('image_name').tags[name].split(' '))
    assert [dls.classes[j] for j in torch.nonzero(y[0]).flatten()] == expected
    assert dls.valid_ds.label(0) == ';'.join(expected)


def test_csv_split_is_seeded_and_accepts_explicit_indices(planet):
    def valid_names(**kw):
        dls = ImageDataLoaders.from_csv(planet, 'train_v2.csv', 'train-jpg', num_workers=0, **kw)
        return [p.name for p in dls.valid_ds.paths]
    assert valid_names(seed=1) == valid_names(seed=1)
    assert valid_names(seed=1) != valid_names(seed=2)
    df = pd.read_csv(planet / 'train_v2.csv')
    assert valid_names(valid_idx=[3, 1]) == [df.image_name[1] + '.jpg', df.image_name[3] + '.jpg']


def test_single_label_csv_gives_class_indices(tmp_path):
    for i, color in enumerate(['red', 'blue', 'red', 'blue', 'red']):
        _img(tmp_path / 'imgs' / f'{i}.png', color=color)
    table = pd.DataFrame({'file': [f'{i}.png' for i in range(5)],
                          'label': ['red', 'blue', 'red', 'blue', 'red']})
    table.to_csv(tmp_path / 'l.csv', index=False)
    dls = ImageDataLoaders.from_csv(tmp_path, 'l.csv', 'imgs', suffix='.png', valid_idx=[0, 1],
                                    fn_col='file', label_col='label', size=8, bs=2, num_workers=0)
    assert dls.classes == ['blue', 'red'] and not dls.multi_label
    assert dls.valid_ds.targets.tolist() == [1, 0] and dls.valid_ds.targets.dtype == torch.int64


def test_csv_with_missing_images_names_them_and_counts(tmp_path, planet):
    _copy_some(planet / 'train-jpg', tmp_path / 'train-jpg', 5)
    shutil.copy(planet / 'train_v2.csv', tmp_path / 'train_v2.csv')
    with pytest.raises(FileNotFoundError) as err:
        ImageDataLoaders.from_csv(tmp_path, 'train_v2.csv', 'train-jpg', num_workers=0)
    msg = str(err.value)
    assert '695 of the 700 images' in msg and 'train_7.jpg' in msg and 'suffix' in msg


def test_csv_with_unknown_columns_lists_the_columns(tmp_path, planet):
    shutil.copy(planet / 'train_v2.csv', tmp_path / 'labels.csv')
    with pytest.raises(ValueError, match=r"no file-name column 'file'.*\['image_name', 'tags'\]"):
        ImageDataLoaders.from_csv(tmp_path, folder=planet / 'train-jpg', fn_col='file')
    pd.DataFrame({'image_name': ['train_7']}).to_csv(tmp_path / 'one.csv', index=False)
    with pytest.raises(ValueError, match=r"1 column\(s\) \['image_name'\].*at least two columns"):
        ImageDataLoaders.from_csv(tmp_path, 'one.csv', planet / 'train-jpg')


def test_datablock_with_folder_splitter(dogscats):
    block = DataBlock(get_image_files, parent_label, folder_splitter(), size=24, tfms=None)
    train_ds, valid_ds = block.datasets(dogscats)
    assert (len(train_ds), len(valid_ds)) == (12, 6)
    x0, _ = train_ds[0]
    assert torch.equal(x0, train_ds[0][0])          # tfms=None: no augmentation


# ---- transforms -----------------------------------------------------------------------------

def test_random_dihedral_gives_the_8_symmetries():
    x = torch.arange(6).view(1, 2, 3)                   # asymmetric: no symmetry maps it to itself
    torch.manual_seed(0)
    seen = {tuple(map(tuple, RandomDihedral()(x)[0].tolist())) for _ in range(200)}
    expected = set()
    for flip in (False, True):
        for turns in range(4):
            y = torch.rot90(x.flip(-1) if flip else x, turns, dims=(1, 2))
            expected.add(tuple(map(tuple, y[0].tolist())))
    assert len(expected) == 8 and seen == expected
    assert {tuple(map(tuple, dihedral(x, k)[0].tolist())) for k in range(8)} == expected
    with pytest.raises(ValueError, match='0..7'):
        dihedral(x, 8)


def test_transforms_shapes_randomness_and_denormalize(planet):
    img = open_image(planet / 'train-jpg' / 'train_7.jpg')
    for make in (side_on_tfms, top_down_tfms):
        tfm = make(48)
        a, b = tfm(img), tfm(img)
        assert a.shape == (3, 48, 48) and a.dtype == torch.float32 and not torch.equal(a, b)
    v = valid_tfms(48)
    assert torch.equal(v(img), v(img))
    pixels = valid_tfms(48, stats=((0, 0, 0), (1, 1, 1)))(img)
    assert torch.allclose(denormalize(v(img), *IMAGENET_STATS), pixels, atol=1e-5)
    assert denormalize(v(img)[None], *IMAGENET_STATS).shape == (1, 3, 48, 48)


def test_show_batch_titles_are_the_labels(dogscats):
    dls = ImageDataLoaders.from_folder(dogscats, size=16, bs=4, num_workers=0)
    fig = show_batch(dls, n=4, ds='valid', ncols=2)
    assert [ax.get_title() for ax in fig.axes] == ['cats', 'cats', 'cats', 'dogs']
    fig = show_batch(dls, n=3, augmented=True)
    assert [ax.get_title() for ax in fig.axes] == [dls.train_ds.label(0)] * 3


# ---- resize cache and split_folder ----------------------------------------------------------

def _stamps(folder):
    """Per file: (inode, ctime, mtime). Any rewrite changes the ctime, even one that copies
    the source's mtime (the cache and split_folder both do)."""
    return {p.relative_to(folder): (p.stat().st_ino, p.stat().st_ctime_ns, p.stat().st_mtime_ns)
            for p in folder.rglob('*') if p.is_file()}


def test_resize_cache_is_written_once_and_rebuilt_when_a_source_changes(tmp_path, planet):
    src = tmp_path / 'planet' / 'train-jpg'
    _copy_some(planet / 'train-jpg', src, 4)
    _img(src / 'sub' / 'wide.png', size=(320, 200), color=(0, 200, 0))
    cache = resize_images(src, 64)
    assert cache == tmp_path / 'planet' / 'train-jpg_resized_64'
    assert sorted(_stamps(cache)) == sorted(p.relative_to(src) for p in get_image_files(src))
    assert Image.open(cache / 'sub' / 'wide.png').size == (133, 83)     # shorter side 64 * 1.3
    assert min(Image.open(next(cache.glob('*.jpg'))).size) == 83
    before = _stamps(cache)
    resize_images(src, 64)
    assert _stamps(cache) == before                                      # nothing rewritten
    changed = sorted(src.glob('*.jpg'))[0]
    _img(changed, size=(400, 200), color=(255, 0, 0))
    os.utime(changed, ns=(before[changed.relative_to(src)][2] + 10**9,) * 2)
    resize_images(src, 64)
    after = _stamps(cache)
    assert [k for k in after if after[k] != before[k]] == [changed.relative_to(src)]
    assert Image.open(cache / changed.name).size == (166, 83)


def test_resize_cache_goes_under_dest(tmp_path, planet):
    cache = resize_images(planet / 'train-jpg', 32, dest=tmp_path, workers=2)
    assert cache == tmp_path / 'train-jpg_resized_32' and len(_stamps(cache)) == 700


def test_split_folder_counts_and_is_reproducible(tmp_path, dogscats):
    src = tmp_path / 'photos'
    for cls in ('cats', 'dogs'):
        _copy_some(dogscats / 'train' / cls, src / cls, 6)
        _copy_some(dogscats / 'valid' / cls, src / cls, 3)
    counts = split_folder(src, tmp_path / 'a', valid_pct=0.2, seed=1)
    assert counts == {'train': {'cats': 7, 'dogs': 7}, 'valid': {'cats': 2, 'dogs': 2}}
    split_folder(src, tmp_path / 'b', valid_pct=0.2, seed=1)
    names = lambda d: sorted(p.relative_to(d) for p in get_image_files(d))   # noqa: E731
    assert names(tmp_path / 'a') == names(tmp_path / 'b')
    before = _stamps(tmp_path / 'a')
    assert split_folder(src, tmp_path / 'a', valid_pct=0.2, seed=1) == counts
    assert _stamps(tmp_path / 'a') == before                   # rerun copies nothing
    split_folder(src, tmp_path / 'c', valid_pct=0.2, seed=2)
    assert names(tmp_path / 'a') != names(tmp_path / 'c')
    with pytest.raises(FileExistsError, match='would not create'):
        split_folder(src, tmp_path / 'a', valid_pct=0.2, seed=2)
    dls = ImageDataLoaders.from_folder(tmp_path / 'a', size=16, bs=4, num_workers=0)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (14, 4)


def test_split_folder_refuses_an_empty_class(tmp_path):
    _img(tmp_path / 'src' / 'cats' / 'a.jpg')
    (tmp_path / 'src' / 'dogs').mkdir()
    with pytest.raises(ValueError, match='dogs has no images'):
        split_folder(tmp_path / 'src', tmp_path / 'out')
