"""Image files on disk: open them as RGB, find broken ones, check layouts, cache and split.

Every image in the course goes through `open_image`, so a CMYK satellite chip, a
grayscale scan or a transparent PNG all come out as the same 3-channel RGB picture,
and a broken file fails with its path in the message.
"""
import io
import os
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps
from tqdm.auto import tqdm

__all__ = ['IMAGE_EXTENSIONS', 'ImageError', 'open_image', 'to_rgb', 'to_8bit', 'verify_images',
           'survey_images', 'check_readable',
           'get_image_files', 'thumbnail_png', 'resize_images', 'split_folder',
           'labelled_folder_files', 'unlabelled_folder_files', 'labelled_csv_rows']

# PIL modes with more than 8 bits per channel: `convert('RGB')` would clip them, not scale.
HIGH_BIT_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I', 'F')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')


class ImageError(ValueError):
    """An image file that cannot be read (corrupt, truncated, or not an image at all)."""


def open_image(path):
    """Open one image file as an RGB `PIL.Image`, whatever its mode.

    CMYK (the Planet chips), grayscale, palette and RGBA images are converted;
    transparent pixels become white; 16-bit and other high-bit-depth images are scaled
    to 8 bits (not clipped); the EXIF orientation of phone photos is applied.

    Args:
        path: a file path (str or Path).
    Returns:
        a fully loaded RGB `PIL.Image.Image`.
    Raises:
        ImageError naming the file when it is corrupt, truncated or not an image.

    >>> open_image('data/dogscats/train/cats/cat.1.jpg').mode      # doctest: +SKIP
    'RGB'

    Used in lesson 02 and by `ImageDataset`.
    """
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f'Cannot read the image {path}: {e}. Delete or replace this file '
                         '(verify_images(paths) lists every unreadable file).') from e


def to_8bit(img):
    """An 8-bit grey ('L') image from a high-bit-depth one ('I;16*', 'I', 'F'), scaled, not
    clipped: 16-bit values are divided by 257 (65535 -> 255); 32-bit integers and floats are
    scaled from their range (floats within 0..1 by 255). Other modes come back as they are.

    >>> to_8bit(Image.new('I;16', (2, 1), 65535)).getpixel((0, 0))
    255

    Used by `to_rgb`.
    """
    if img.mode not in HIGH_BIT_MODES:
        return img
    a = np.asarray(img, dtype=np.float64)
    if img.mode.startswith('I;16'):
        a = a / 257.0
    else:
        lo, hi = (0.0, 1.0) if img.mode == 'F' and a.size and a.min() >= 0 and a.max() <= 1 else (
            0.0, 65535.0) if img.mode == 'I' and a.size and a.min() >= 0 and a.max() <= 65535 else (
            float(a.min()) if a.size else 0.0, float(a.max()) if a.size else 1.0)
        a = (a - lo) * (255.0 / max(hi - lo, 1e-12))
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), 'L')


def to_rgb(img):
    """Convert a PIL image of any mode to RGB, putting transparent pixels on white and
    scaling high-bit-depth images to 8 bits (`to_8bit`).

    Used by `open_image` and by `ImagePredictor.predict` for PIL images.
    """
    img = to_8bit(img)
    if img.mode == 'P' and 'transparency' in img.info:
        img = img.convert('RGBA')
    if img.mode in ('RGBA', 'LA', 'PA'):
        img = img.convert('RGBA')
        white = Image.new('RGBA', img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img.convert('RGB') if img.mode != 'RGB' else img


def thumbnail_png(source, size):
    """PNG bytes of an image (a path or a file object) shrunk to fit `size` x `size`, for widgets.

    Used by `ImageCleaner` and `ClassifierApp` (lesson 07).
    """
    img = open_image(source)
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def verify_images(paths, decode=True):
    """Return the paths (of `paths`) that cannot be opened as images.

    Args:
        paths: image file paths.
        decode: True decodes every pixel (finds truncated files, slower);
            False only reads the headers (finds files that are not images, fast).
    Returns:
        a list of the unreadable paths, in the order given; empty when all are fine.

    >>> bad = verify_images(get_image_files(path))                    # doctest: +SKIP
    >>> for p in bad: p.unlink()                                       # doctest: +SKIP

    Used in lesson 07.
    """
    bad = []
    for p in paths:
        try:
            if decode:
                open_image(p)
            else:
                with Image.open(p):
                    pass
        except (ImageError, OSError, SyntaxError, ValueError):
            bad.append(p)
    return bad


def survey_images(paths):
    """(unreadable paths, {mode: count} of the readable files that are not plain RGB), from the
    headers only. Used by the image loaders to say in one line what `open_image` converts.
    """
    bad, unusual = [], {}
    for p in paths:
        try:
            with Image.open(p) as img:
                mode = img.mode
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            bad.append(p)
            continue
        if mode != 'RGB':
            unusual[mode] = unusual.get(mode, 0) + 1
    return bad, unusual


MODE_NAMES = {'L': 'grey', 'P': 'palette', 'RGBA': 'transparent', 'LA': 'transparent grey',
              'CMYK': 'CMYK', '1': 'black-and-white', 'I;16': '16-bit grey', 'I;16B': '16-bit grey',
              'I;16L': '16-bit grey', 'I': '32-bit grey', 'F': 'floating-point'}


def check_readable(paths):
    """Raise one ImageError listing every file whose header cannot be read; print one line
    counting the images that are converted to 8-bit RGB when read (CMYK, grey, 16-bit, ...).

    Used by `ImageDataLoaders` when the loaders are built.
    """
    bad, unusual = survey_images(paths)
    if unusual:
        counts = {}
        for mode, n in unusual.items():
            name = MODE_NAMES.get(mode, mode)
            counts[name] = counts.get(name, 0) + n
        print(f'{sum(counts.values())} of {len(paths)} images are converted to 8-bit RGB when read: '
              + ', '.join(f'{n} {name}' for name, n in sorted(counts.items()))
              + (' (high bit depths scaled, not clipped)'
                 if any(m in HIGH_BIT_MODES for m in unusual) else ''))
    if bad:
        shown = '\n  '.join(str(p) for p in bad[:10])
        raise ImageError(f'{len(bad)} of {len(paths)} files cannot be opened as images:\n  {shown}'
                         '\nDelete or replace them, then run this cell again.')


def get_image_files(folder, recurse=True):
    """Every image file under `folder` (by extension), sorted, as Paths.

    >>> len(get_image_files('data/dogscats/train'))                     # doctest: +SKIP
    300

    Used in lesson 07.
    """
    folder = Path(folder)
    files = folder.rglob('*') if recurse else folder.iterdir()
    return sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                  and not any(part.startswith('.') for part in p.relative_to(folder).parts))


def resize_images(src_folder, size, dest=None, workers=None):
    """Write resized copies of the images under `src_folder` once and return their folder.

    The copies have their shorter side equal to round(size * 1.3) (never enlarged),
    keep the relative layout and file names, and are RGB (JPEG for .jpg files).
    A second call writes nothing; a copy is rebuilt when its source changed
    (each copy carries its source's modification time).

    Args:
        src_folder: folder of images (any depth), for example `path/'train-jpg'`.
        size: the training image size the cache is for.
        dest: root under which the cache folder is made; default the parent of
            `src_folder`. Pass a writable folder when the data is read-only.
        workers: threads used (default: the number of CPU cores).
    Returns:
        the cache folder `dest/<src name>_resized_<size>`.

    >>> small = resize_images(path/'train-jpg', 64)       # doctest: +SKIP
    >>> small.name                                         # doctest: +SKIP
    'train-jpg_resized_64'

    Used in lesson 02.
    """
    src = Path(src_folder)
    if not src.is_dir():
        raise FileNotFoundError(f'resize_images: {src} is not a folder of images.')
    cache = Path(dest if dest is not None else src.parent) / f'{src.name}_resized_{size}'
    jobs = [(p, cache / p.relative_to(src)) for p in get_image_files(src)]
    stale = [(s, d) for s, d in jobs if not _is_fresh(s, d)]
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f'Cannot create the cache folder {cache} ({e}). Pass dest= a '
                              'writable folder, for example the course data root.') from e
    target = round(size * 1.3)
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        list(tqdm(pool.map(lambda job: _resize_one(*job, target), stale), total=len(stale),
                  desc=f'resize to {target}px', disable=not stale))
    return cache


def _is_fresh(src, dst):
    """True when `dst` exists and was made from the current version of `src`."""
    return dst.exists() and dst.stat().st_mtime_ns == src.stat().st_mtime_ns


def _resize_one(src, dst, target):
    """Write `src` shrunk so its shorter side is `target`; stamp it with the source's mtime."""
    img = open_image(src)
    scale = target / min(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + '.part')
    img.save(part, format=Image.registered_extensions().get(dst.suffix.lower(), 'JPEG'),
             quality=90)
    st = src.stat()
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(part, dst)


def split_folder(src, dest, valid_pct=0.2, seed=42):
    """Copy a folder of labelled images `src/<class>/*` into `dest/train` and `dest/valid`.

    Each class is shuffled with `seed` and `valid_pct` of it goes to validation, so
    the same call always gives the same split. Files already copied are skipped,
    so rerunning a notebook is cheap.

    Args:
        src: folder with one sub-folder of images per class.
        dest: folder to create `train/<class>` and `valid/<class>` in (not inside src).
        valid_pct: share of each class put in `valid/`.
        seed: random seed of the split.
    Returns:
        counts per split and class, e.g. {'train': {'cats': 8, ...}, 'valid': {...}}.

    >>> split_folder('my_photos', 'data/my_photos_split')            # doctest: +SKIP
    {'train': {'bears': 80, 'teddys': 76}, 'valid': {'bears': 20, 'teddys': 19}}

    Used in lesson 01.
    """
    src, dest = Path(src), Path(dest)
    plan = _split_plan(src, valid_pct, seed)
    _refuse_foreign_files(dest, plan)
    counts = {'train': {}, 'valid': {}}
    for split, cls, f in plan:
        target = dest / split / cls / f.name
        counts[split][cls] = counts[split].get(cls, 0) + 1
        if not (target.exists() and target.stat().st_size == f.stat().st_size):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    return counts


def _split_plan(src, valid_pct, seed):
    """List (split, class, file) for every image of `src/<class>/`, seeded per class."""
    if not src.is_dir():
        raise FileNotFoundError(f'split_folder: the folder {src} does not exist. Expected '
                                'one sub-folder of images per class: src/<class>/*.jpg')
    classes = sorted(d.name for d in src.iterdir() if d.is_dir() and not d.name.startswith('.'))
    if not classes or {'train', 'valid'} & set(classes):
        raise ValueError(f'split_folder: {src} holds {classes or "no folders"}; expected one '
                         'sub-folder per class (src/<class>/*.jpg), not yet split into '
                         'train/valid.')
    plan = []
    for cls in classes:
        files = get_image_files(src / cls)
        if not files:
            raise ValueError(f'split_folder: the class folder {src / cls} has no images.')
        random.Random(f'{seed}-{cls}').shuffle(files)
        n_valid = round(len(files) * valid_pct)
        plan += [('valid' if i < n_valid else 'train', cls, f) for i, f in enumerate(files)]
    return plan


def _refuse_foreign_files(dest, plan):
    """Raise when dest/train or dest/valid already holds images this split would not make."""
    wanted = {dest / split / cls / f.name for split, cls, f in plan}
    found = get_image_files(dest / 'train') + get_image_files(dest / 'valid')
    foreign = [p for p in found if p not in wanted]
    if foreign:
        raise FileExistsError(f'split_folder: {dest} already holds {len(foreign)} images that this '
                              f'split would not create (e.g. {foreign[0]}). Choose an empty '
                              'dest, or delete it first.')


def _listing(folder, limit=8):
    """What a folder holds, in words, for error messages."""
    if not folder.is_dir():
        return f'{folder} does not exist either' if not folder.exists() else f'{folder} is a file'
    names = sorted(p.name + ('/' if p.is_dir() else '') for p in folder.iterdir())
    more = f' ... ({len(names) - limit} more)' if len(names) > limit else ''
    return f'{folder} holds: {", ".join(names[:limit]) or "nothing"}{more}'


def labelled_folder_files(folder, layout='train/<class>/*.jpg'):
    """The images of `folder/<class>/`, checked: the folder exists, every class folder has images.

    Args:
        folder: for example `path/'train'`.
        layout: the expected layout, in words, for the error messages.
    Returns:
        the sorted image paths (their parent folder's name is their label).

    Used by `ImageDataLoaders.from_folder` (lessons 01 and 07).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f'No folder {folder}. {_listing(folder.parent)}. '
                                f'Expected layout: {layout}, one sub-folder per class '
                                '(for example train/cats/cat.1.jpg and train/dogs/dog.1.jpg).')
    loose = get_image_files(folder, recurse=False)
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith('.'))
    if loose or not classes:
        raise ValueError(f'{folder} should hold one sub-folder per class, but {_listing(folder)}. '
                         f'Expected layout: {layout}; move each image into its class folder.')
    files = []
    for d in classes:
        found = get_image_files(d)
        if not found:
            raise ValueError(f'The class folder {d} has no images ({_listing(d)}). Put images '
                             f'of class {d.name!r} in it, or remove it.')
        files += found
    return files


def unlabelled_folder_files(folder):
    """The images under `folder` (a test set without labels); raise if there are none."""
    folder = Path(folder)
    files = get_image_files(folder) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f'No test images in {folder}: {_listing(folder)}.')
    return files


def labelled_csv_rows(csv, folder, suffix='.jpg', label_delim=' ', fn_col=0, label_col=1):
    """Read a label CSV into a list of (image path, labels) and check every image exists.

    Args:
        csv: the CSV file; folder: where the images are.
        suffix: added to file names that lack it.
        label_delim: splits a label cell into several tags (None: one label per row).
        fn_col, label_col: the file-name and label columns, by position or name.
    Returns:
        [(Path, label or list of tags), ...] in the CSV's order.

    Used by `ImageDataLoaders.from_csv` (lesson 02).
    """
    csv, folder = Path(csv), Path(folder)
    if not csv.is_file():
        raise FileNotFoundError(f'No CSV file {csv}. {_listing(csv.parent)}.')
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    names, labels = _column(df, fn_col, csv, 'file-name'), _column(df, label_col, csv, 'label')
    paths = [folder / (n if n.endswith(suffix) else n + suffix) for n in names.str.strip()]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ', '.join(p.name for p in missing[:3])
        raise FileNotFoundError(f'{len(missing)} of the {len(paths)} images listed in {csv.name} '
                                f'are missing from {folder} (e.g. {shown}). {_listing(folder)}. '
                                'Check `folder` and `suffix`.')
    if label_delim:
        labels = [[t for t in lab.split(label_delim) if t] for lab in labels]
    else:
        labels = [lab.strip() or [] for lab in labels]      # an empty cell: no label
    return list(zip(paths, labels))


def _column(df, col, csv, what):
    """Column `col` (position or name) of df, or an error listing the columns there are."""
    if isinstance(col, int):
        if not -df.shape[1] <= col < df.shape[1]:
            raise ValueError(f'{csv.name} has {df.shape[1]} column(s) {list(df.columns)}; the '
                             f'{what} column was expected at position {col}. Expected at least '
                             'two columns: file name, then label(s).')
        return df.iloc[:, col]
    if col not in df.columns:
        raise ValueError(f'{csv.name} has no {what} column {col!r}; its columns are '
                         f'{list(df.columns)}. Pass the right name (fn_col=, label_col=).')
    return df[col]
