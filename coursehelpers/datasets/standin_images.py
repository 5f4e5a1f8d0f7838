"""Stand-in image data sets: the full dogs-vs-cats and Planet layouts, made from the real samples.

Full mode trains on the complete Kaggle sets, which cannot be downloaded everywhere. A stand-in
has the full set's folders, file names, file formats, counts and image-size distribution, and
every image is a real sample photo, randomly cropped, flipped, recoloured and re-encoded, so that
decoding, memory use and epoch times behave like the real thing. What a model learns on it means
nothing.

- `make_dogscats`: fast.ai's `dogscats` layout: `train/{cats,dogs}` (11,500 each) and
  `valid/{cats,dogs}` (1,000 each) of `cat.N.jpg` / `dog.N.jpg` (N unique per class, 0..12499);
  RGB baseline JPEGs, 4:2:0, quality 93 to 95 (the real photos are all 95; the resized photos
  are a little softer, and at 93 to 95 their mean file size is about the real one), sizes drawn
  from the sample's, at most 500 px on a side. A stand-in train photo comes from a sample train
  photo of the same class, a valid photo from a sample valid photo.
- `make_planet`: Kaggle's Planet layout: `train-jpg/train_N.jpg` (40,479), `train_v2.csv`
  (`image_name,tags`, in order, CRLF line ends like the original) and `test-jpg/test_N.jpg`
  (40,669), all 256 x 256. The chips are written as CMYK JPEGs, the mode the real chips decode as
  (fourth band 0, 4:4:4, quality 75, optimised Huffman tables, like the originals; PIL adds an Adobe
  marker, so the bands decode to the same values). The upscaled crops are a little softer, so the
  files are about 15% smaller than the real ones (13 kB against 16 kB on average). A train chip
  keeps the tags of its source chip.

`scale` multiplies every count (at least 2 photos per class folder, 20 chips per Planet folder).
Every random choice comes from `random.Random(f'{seed}-{group}-{index}')`, one per image, so the
output is byte-identical for the same sample, scale and seed, with any number of worker processes.
Each worker decodes a source image once and keeps it (the samples are 400 and 700 images).
"""
import csv
import os
import random
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageStat
from tqdm.auto import tqdm

__all__ = ['make_dogscats', 'make_planet']

DOGSCATS_FULL = {'train': 11500, 'valid': 1000}   # photos per class folder
DOGSCATS_CLASSES = {'cats': 'cat', 'dogs': 'dog'}
DOGSCATS_NUMBERS = 12500                          # Kaggle numbers each class 0..12499
DOGSCATS_QUALITY = (93, 95)
MAX_SIDE = 500
PLANET_FULL = {'train': 40479, 'test': 40669}
PLANET_SIDE = 256
PLANET_QUALITY = 75
MIN_PER_CLASS, MIN_CHIPS = 2, 20
CHUNK = 64                                        # images per job sent to a worker
DIHEDRAL = (None, *Image.Transpose)               # identity and the 7 other symmetries

_SOURCES = {}                                     # this process's decoded sources, by path


def _count(full, scale, minimum):
    """round(full * scale), at least `minimum`."""
    return max(int(round(full * scale)), minimum)


def _source(path, mode):
    """The image at `path` in `mode`, decoded once per process."""
    image = _SOURCES.get(path)
    if image is None:
        with Image.open(path) as f:
            image = f.convert(mode) if f.mode != mode else f.copy()
        _SOURCES[path] = image
    return image


def _crop_box(rng, w, h, aspect, keep):
    """A random box of a w x h image with each side at least `keep` of the image's, and the
    aspect ratio (width / height) nearest `aspect` that allows that."""
    aspect = min(max(aspect, keep * w / h), w / (keep * h))
    cw = min(w, h * aspect)
    ch = cw / aspect
    t = rng.uniform(max(keep * w / cw, keep * h / ch), 1.0)
    cw, ch = max(1, min(w, int(cw * t))), max(1, min(h, int(ch * t)))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return x, y, x + cw, y + ch


def _photo_size(rng, sizes, w, h):
    """A real photo size (turned to the orientation of a w x h source) times 0.8 to 1.2, with
    the long side at most MAX_SIDE."""
    sw, sh = rng.choice(sizes)
    if (sw - sh) * (w - h) < 0:
        sw, sh = sh, sw
    f = rng.uniform(0.8, 1.2)
    f = min(f, MAX_SIDE / max(sw, sh))
    return max(1, round(sw * f)), max(1, round(sh * f))


def _dogscats_photo(src, sizes, rng):
    """One stand-in photo from the decoded RGB `src`: crop, resize, flip, colour."""
    w, h = src.size
    size = _photo_size(rng, sizes, w, h)
    box = _crop_box(rng, w, h, size[0] / size[1], 0.6)
    photo = src.resize(size, Image.Resampling.BILINEAR, box=box)
    if rng.random() < 0.5:
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        photo = enhancer(photo).enhance(rng.uniform(0.85, 1.15))
    return photo


def _recolour(chip, rng):
    """A small colour change as one lookup table: per-band contrast about the band's mean and a
    shift; CMYK's last band (0 in the real chips) is kept as it is."""
    means = ImageStat.Stat(chip).mean
    contrast, shift, levels = rng.uniform(0.9, 1.1), rng.uniform(-8, 8), np.arange(256.0)
    tables = []
    for band, mean in enumerate(means):
        if chip.mode == 'CMYK' and band == 3:
            tables.append(levels)
            continue
        gain = contrast * rng.uniform(0.96, 1.04)
        tables.append(mean + gain * (levels - mean) + shift)
    return chip.point(np.clip(np.rint(np.concatenate(tables)), 0, 255).astype(int).tolist())


def _planet_chip(src, rng):
    """One 256 x 256 stand-in chip from the decoded `src`: crop, resize, symmetry, colour."""
    box = _crop_box(rng, *src.size, 1.0, 0.7)
    chip = src.resize((PLANET_SIDE, PLANET_SIDE), Image.Resampling.BILINEAR, box=box)
    op = DIHEDRAL[rng.randrange(8)]
    if op is not None:
        chip = chip.transpose(op)
    return _recolour(chip, rng)


def _dogscats_job(job):
    """Write one chunk of dogs-vs-cats photos; return the source file of each."""
    sources, sizes, folder, prefix, key, seed, items = job
    used = []
    for i, number in items:
        rng = random.Random(f'{seed}-{key}-{i}')
        path = rng.choice(sources)
        photo = _dogscats_photo(_source(path, 'RGB'), sizes, rng)
        photo.save(Path(folder) / f'{prefix}.{number}.jpg', 'JPEG',
                   quality=rng.randint(*DOGSCATS_QUALITY))
        used.append(path)
    return used


def _planet_job(job):
    """Write one chunk of Planet chips; return the source file of each."""
    sources, folder, key, seed, items = job
    used = []
    for i in items:
        rng = random.Random(f'{seed}-{key}-{i}')
        path = rng.choice(sources)
        chip = _planet_chip(_source(path, 'CMYK'), rng)
        chip.save(Path(folder) / f'{key}_{i}.jpg', 'JPEG', quality=PLANET_QUALITY,
                  subsampling=0, optimize=True)
        used.append(path)
    return used


def _run(fn, jobs, desc, workers):
    """fn(job) for every job, in `workers` processes (0 or 1: here), with a progress bar over
    images; return the results in job order."""
    workers = os.cpu_count() if workers is None else workers
    results = [None] * len(jobs)
    with tqdm(total=sum(len(job[-1]) for job in jobs), desc=desc, unit='img') as bar:
        if workers <= 1:
            try:
                for k, job in enumerate(jobs):
                    results[k] = fn(job)
                    bar.update(len(results[k]))
            finally:
                _SOURCES.clear()
            return results
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            futures = {pool.submit(fn, job): k for k, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(len(results[futures[future]]))
    return results


def _chunks(items):
    return [items[k:k + CHUNK] for k in range(0, len(items), CHUNK)]


def _photos(folder):
    """The sorted .jpg files of `folder` as strings; FileNotFoundError when there are none."""
    found = sorted(str(p) for p in Path(folder).glob('*.jpg'))
    if not found:
        raise FileNotFoundError(f'no .jpg files in {folder}: is the sample there?')
    return found


def make_dogscats(sample, dest, scale=1.0, seed=0, workers=None):
    """Fill `dest` with a stand-in of the full dogs-vs-cats set, made from the real `sample`.

    Each photo is a random sample photo of the same class and split, randomly cropped (at
    least 60% of each side), flipped, recoloured and resized to a size drawn from the sample's
    (times 0.8 to 1.2, at most 500 px on a side), then saved as an RGB JPEG.

    Args:
        sample: the real sample folder (`train/{cats,dogs}/*.jpg`, `valid/{cats,dogs}/*.jpg`).
        dest: an existing empty folder to fill.
        scale: fraction of the full counts (11,500 train and 1,000 valid per class); each
            class folder gets round(count * scale) photos, at least 2.
        seed: every random choice derives from it; same seed, same bytes, whatever `workers`.
        workers: processes for the image work (default: all CPUs; 0 or 1: this process).

    Returns:
        `dest` as a Path, holding `train/{cats,dogs}` and `valid/{cats,dogs}` of `cat.N.jpg`
        and `dog.N.jpg` (N unique in each class).

    >>> dest = Path('/tmp/dogscats'); dest.mkdir()                          # doctest: +SKIP
    >>> make_dogscats(Path('../shared/data/dogscats'), dest, scale=0.01)   # doctest: +SKIP
    PosixPath('/tmp/dogscats')

    Used by `make_standin`.
    """
    sample, dest = Path(sample), Path(dest)
    sources = {(s, c): _photos(sample / s / c) for s in DOGSCATS_FULL for c in DOGSCATS_CLASSES}
    sizes = []
    for paths in sources.values():
        for path in paths:
            with Image.open(path) as f:
                sizes.append(f.size)
    jobs = []
    for cls, prefix in DOGSCATS_CLASSES.items():
        counts = {s: _count(full, scale, MIN_PER_CLASS) for s, full in DOGSCATS_FULL.items()}
        total = sum(counts.values())
        numbers = random.Random(f'{seed}-{cls}-numbers').sample(
            range(max(DOGSCATS_NUMBERS, total)), total)
        for split, n in counts.items():
            folder = dest / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            items = list(enumerate(numbers[:n]))
            numbers = numbers[n:]
            jobs += [(sources[split, cls], sizes, str(folder), prefix, f'{split}/{cls}', seed, part)
                     for part in _chunks(items)]
    _run(_dogscats_job, jobs, 'stand-in dogscats', workers)
    return dest


def make_planet(sample, dest, scale=1.0, seed=0, workers=None):
    """Fill `dest` with a stand-in of Kaggle's full Planet set, made from the real `sample`.

    Each chip is a random sample chip under one of the 8 symmetries of the square, randomly
    cropped (at least 70% of the side), resized back to 256 x 256, recoloured and saved as a
    CMYK JPEG like the originals. A train chip has the tags of the chip it was made from, so
    the tag frequencies and co-occurrences follow the sample's; test chips have none.

    Args:
        sample: the real sample folder (`train-jpg/*.jpg` and `train_v2.csv`).
        dest: an existing empty folder to fill.
        scale: fraction of the full counts (40,479 train and 40,669 test chips); each folder
            gets round(count * scale) chips, at least 20.
        seed: every random choice derives from it; same seed, same bytes, whatever `workers`.
        workers: processes for the image work (default: all CPUs; 0 or 1: this process).

    Returns:
        `dest` as a Path, holding `train-jpg/train_N.jpg`, `train_v2.csv` (`image_name,tags`,
        one row per train chip, in order) and `test-jpg/test_N.jpg`.

    >>> dest = Path('/tmp/planet'); dest.mkdir()                            # doctest: +SKIP
    >>> make_planet(Path('../shared/data/planet'), dest, scale=0.01)       # doctest: +SKIP
    PosixPath('/tmp/planet')

    Used by `make_standin`.
    """
    sample, dest = Path(sample), Path(dest)
    with open(sample / 'train_v2.csv', newline='') as f:
        tags = {row['image_name']: row['tags'].strip() for row in csv.DictReader(f)}
    sources = [p for p in _photos(sample / 'train-jpg') if Path(p).stem in tags]
    if not sources:
        raise FileNotFoundError(f'no chip of {sample / "train-jpg"} is in train_v2.csv')
    jobs, starts = [], {}
    for split, full in PLANET_FULL.items():
        folder = dest / f'{split}-jpg'
        folder.mkdir(parents=True, exist_ok=True)
        starts[split] = len(jobs)
        jobs += [(sources, str(folder), split, seed, part)
                 for part in _chunks(list(range(_count(full, scale, MIN_CHIPS))))]
    results = _run(_planet_job, jobs, 'stand-in planet', workers)
    train = [path for result in results[:starts['test']] for path in result]
    with open(dest / 'train_v2.csv', 'w', newline='') as f:
        out = csv.writer(f)                      # CRLF line ends, as in Kaggle's file
        out.writerow(['image_name', 'tags'])
        out.writerows([f'train_{i}', tags[Path(path).stem]] for i, path in enumerate(train))
    return dest
