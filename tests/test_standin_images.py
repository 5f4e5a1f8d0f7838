"""The stand-in image sets, made from the real samples at a tiny scale: layout, counts, images
that open, Planet tags, and the same bytes for any number of workers (a few seconds)."""
import csv
import hashlib
import re

import pytest
from PIL import Image

from coursehelpers.datasets.standin_images import make_dogscats, make_planet

SCALE = 0.002
DOGSCATS = {'train': 11500, 'valid': 1000}
PLANET = {'train': 40479, 'test': 40669}
PLANET_TAGS = {  # Kaggle's 17 (the sample has no blow_down)
    'agriculture', 'artisinal_mine', 'bare_ground', 'blooming', 'blow_down', 'clear', 'cloudy',
    'conventional_mine', 'cultivation', 'habitation', 'haze', 'partly_cloudy', 'primary', 'road',
    'selective_logging', 'slash_burn', 'water'}


def count(full, scale, minimum):
    return max(round(full * scale), minimum)


def generate(make, sample, root, seed=0, workers=0, scale=SCALE):
    dest = root / f'{make.__name__}-{scale}-{seed}-{workers}'
    dest.mkdir()
    make(sample, dest, scale=scale, seed=seed, workers=workers)
    return dest


def digests(root):
    """{relative path: sha256} of every file under root."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def opened(path, mode):
    """The size of the image at path, after checking it verifies and decodes in `mode`."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == 'JPEG' and im.mode == mode, (path, im.format, im.mode)
        im.load()
        return im.size


@pytest.mark.parametrize('scale', [SCALE, 1e-5])
def test_dogscats_layout_counts_and_photos(shared_data, tmp_path, scale):
    dest = generate(make_dogscats, shared_data / 'dogscats', tmp_path, scale=scale)
    assert {str(p.relative_to(dest)) for p in dest.rglob('*') if p.is_dir()} == {
        'train', 'valid', 'train/cats', 'train/dogs', 'valid/cats', 'valid/dogs'}
    sizes = []
    for cls, prefix in (('cats', 'cat'), ('dogs', 'dog')):
        numbers = []
        for split, full in DOGSCATS.items():
            files = sorted((dest / split / cls).iterdir())
            assert len(files) == count(full, scale, 2)
            for f in files:
                m = re.fullmatch(rf'{prefix}\.(\d+)\.jpg', f.name)
                assert m, f
                numbers.append(int(m.group(1)))
                sizes.append(opened(f, 'RGB'))
        assert len(set(numbers)) == len(numbers) and all(0 <= n < 12500 for n in numbers)
    assert max(max(s) for s in sizes) <= 500
    if scale == SCALE:
        assert len(set(sizes)) > 10, 'stand-in photo sizes should vary like the real ones'


@pytest.mark.parametrize('scale', [SCALE, 1e-5])
def test_planet_layout_counts_chips_and_tags(shared_data, tmp_path, scale):
    sample = shared_data / 'planet'
    dest = generate(make_planet, sample, tmp_path, scale=scale)
    assert sorted(p.name for p in dest.iterdir()) == ['test-jpg', 'train-jpg', 'train_v2.csv']
    for split, full in PLANET.items():
        n = count(full, scale, 20)
        names = {p.name for p in (dest / f'{split}-jpg').iterdir()}
        assert names == {f'{split}_{i}.jpg' for i in range(n)}
        for name in names:
            assert opened(dest / f'{split}-jpg' / name, 'CMYK') == (256, 256)
    with open(sample / 'train_v2.csv', newline='') as f:
        real = [row['tags'].strip() for row in csv.DictReader(f)]
    with open(dest / 'train_v2.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['image_name', 'tags']
    n = count(PLANET['train'], scale, 20)
    assert [r[0] for r in rows[1:]] == [f'train_{i}' for i in range(n)]
    for _, tags in rows[1:]:
        assert tags in set(real), f'{tags!r} is not the tag set of any real chip'
        assert tags and set(tags.split()) <= PLANET_TAGS


@pytest.mark.parametrize('make,name', [(make_dogscats, 'dogscats'), (make_planet, 'planet')])
def test_same_bytes_for_any_workers_and_new_bytes_for_a_new_seed(shared_data, tmp_path, make, name):
    here = digests(generate(make, shared_data / name, tmp_path, workers=0))
    pooled = digests(generate(make, shared_data / name, tmp_path, workers=2))
    assert here == pooled
    other = digests(generate(make, shared_data / name, tmp_path, seed=1, workers=2))
    assert len(other) == len(here)
    if name == 'planet':
        assert other.keys() == here.keys()
    else:
        assert other.keys() != here.keys(), 'the photo numbers should change with the seed'
    images = {v for k, v in here.items() if k.endswith('.jpg')}
    shared = images & {v for k, v in other.items() if k.endswith('.jpg')}
    assert not shared, f'{len(shared)} of {len(images)} images are identical under another seed'
