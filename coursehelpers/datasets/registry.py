"""Every data set the course uses, and where to find it.

`get_data('dogscats')` returns a folder laid out as the lesson expects. It looks
in three places, in order, and says which one it used:

1. the data root (`COURSE_DATA`, default `data/` at the top of the course);
2. a local mirror (`COURSE_DATA_MIRROR`, laid out like the course's sample
   folder): the files are copied into the data root, the mirror is only read;
3. the network: a verified, resumable download, unpacked safely.

Quick mode asks for the `sample` variant, full mode for the `full` one.

Also here: how a quick-mode sample is cut from a full upstream archive (`CUTS`), and which
variant of each data set this process used (`data_used`, read by `record`). Bytes are moved
by `download.py`; Kaggle competitions by `kaggle.py`.
"""
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ..env.distributed import is_main, rank0_first
from ..env.modes import get_mode
from ..env.paths import STANDIN_WARNING, data_root, mirror_root, standin_info
from .download import DataError, NetworkError, download, safe_extract, sha256sum
from .kaggle import kaggle_fetch

__all__ = ['DATASETS', 'Source', 'DataError', 'source', 'missing_paths', 'resolve_url',
           'get_data', 'list_data', 'data_used', 'CUTS']

# name -> {'variant', 'path', 'origin'} for every data set resolved in this process
_used = {}


FASTAI = 'https://s3.amazonaws.com/fast-ai-sample/'


@dataclass(frozen=True)
class Source:
    """One variant of a data set: where it comes from and how it must look on disk.

    `url` is an https URL or `kaggle:COMPETITION`; `sha256`/`size` are known
    values or None (then the hash is recorded at the first download and checked
    on every later one). `folder` is its place under the data root and in the
    mirror; `layout` lists paths that must exist inside it; `how` says in words
    how the variant is made. `cut` names a function in `CUTS` that cuts a
    sample out of the unpacked upstream archive.
    """
    url: str
    folder: str
    layout: tuple
    how: str
    sha256: str = None
    size: int = None
    cut: str = None
    rename: dict = field(default_factory=dict)


DATASETS = {
    'dogscats': {
        'full': Source(FASTAI + 'dogscats.tgz', 'full/dogscats',
                       ('train/cats', 'train/dogs', 'valid/cats', 'valid/dogs'),
                       'fast.ai mirror of Kaggle dogs vs cats (about 840 MB)'),
        'sample': Source(FASTAI + 'dogscats.tgz', 'dogscats',
                         ('train/cats', 'train/dogs', 'valid/cats', 'valid/dogs'),
                         'cut from the full archive: first 150 train and 50 valid images per class',
                         cut='dogscats'),
    },
    'planet': {
        'full': Source('kaggle:planet-understanding-the-amazon-from-space', 'full/planet',
                       ('train-jpg', 'train_v2.csv'),
                       'Kaggle competition files train-jpg and train_v2.csv (needs a Kaggle account)'),
        'sample': Source(FASTAI + 'planet_sample.tgz', 'planet', ('train-jpg', 'train_v2.csv'),
                         'upstream fast.ai planet_sample, renamed to the Kaggle layout',
                         rename={'train': 'train-jpg', 'labels.csv': 'train_v2.csv'}),
    },
    'rossmann': {
        'full': Source('https://files.fast.ai/part2/lesson14/rossmann.tgz', 'full/rossmann',
                       ('train.csv', 'store.csv', 'store_states.csv', 'state_names.csv',
                        'googletrend.csv', 'weather.csv', 'test.csv'),
                       'fast.ai Rossmann archive: Kaggle files plus states, trends and weather'),
        'sample': Source('https://files.fast.ai/part2/lesson14/rossmann.tgz', 'rossmann',
                         ('train.csv', 'store.csv', 'store_states.csv', 'state_names.csv',
                          'googletrend.csv', 'weather.csv', 'test.csv'),
                         'cut from the full archive: every table, train.csv cut to its first 10,000 rows',
                         cut='rossmann'),
    },
    'imdb': {
        'full': Source('https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz', 'full/imdb',
                       ('train/pos', 'train/neg', 'train/unsup', 'test/pos', 'test/neg'),
                       'Stanford aclImdb v1: 25k train, 25k test, 50k unlabelled reviews'),
        'sample': Source(FASTAI + 'imdb_sample.tgz', 'imdb_sample', ('texts.csv',),
                         'upstream fast.ai imdb_sample: 1,000 reviews'),
    },
    'ml-latest-small': {
        'full': Source('https://files.grouplens.org/datasets/movielens/ml-latest-small.zip',
                       'ml-latest-small', ('ratings.csv', 'movies.csv'),
                       'GroupLens ml-latest-small: 100,836 ratings (the same files in both modes)'),
    },
    'nietzsche': {
        'full': Source('https://s3.amazonaws.com/text-datasets/nietzsche.txt', 'nietzsche',
                       ('nietzsche.txt',), 'the complete nietzsche.txt (the same file in both modes)'),
    },
}


def source(name, variant=None):
    """Return (variant, Source) for data set `name`; the variant defaults to the mode's."""
    if name not in DATASETS:
        raise DataError(f'No data set called {name!r}. Known: {", ".join(DATASETS)}.')
    variants = DATASETS[name]
    variant = variant or ('sample' if get_mode() == 'quick' else 'full')
    if variant not in ('sample', 'full'):
        raise DataError(f"Variant {variant!r} of {name!r} does not exist: use 'sample' or 'full'.")
    return (variant, variants[variant]) if variant in variants else ('full', variants['full'])


def missing_paths(folder, layout):
    """The paths of `layout` that are absent or empty under `folder`."""
    bad = []
    for rel in layout:
        p = folder / rel
        if not p.exists() or (p.is_dir() and not any(p.iterdir())):
            bad.append(rel)
    return bad


def resolve_url(url):
    """The URL to fetch: `COURSE_DATA_URL`, when set, replaces everything but the file name.

    A classroom can serve the archives from its own server this way.
    """
    base = os.environ.get('COURSE_DATA_URL')
    if not base or url.startswith('kaggle:'):
        return url
    return base.rstrip('/') + '/' + Path(urlparse(url).path).name


def cut_dogscats(src, dest, n_train=150, n_valid=50):
    """Copy the first `n_train` / `n_valid` images per class (sorted by name) to `dest`."""
    src, dest = Path(src), Path(dest)
    for split, n in (('train', n_train), ('valid', n_valid)):
        for cls in sorted(p.name for p in (src / split).iterdir() if p.is_dir()):
            files = sorted((src / split / cls).glob('*.jpg'))[:n]
            (dest / split / cls).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, dest / split / cls / f.name)
    return dest


def cut_rossmann(src, dest, n_rows=10_000):
    """Copy every table; keep the header and first `n_rows` rows of train.csv."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.glob('*.csv'):
        if f.name == 'train.csv':
            with open(f) as fin, open(dest / f.name, 'w') as fout:
                for i, line in enumerate(fin):
                    if i > n_rows:
                        break
                    fout.write(line)
        else:
            shutil.copyfile(f, dest / f.name)
    return dest


CUTS = {'dogscats': cut_dogscats, 'rossmann': cut_rossmann}


def get_data(name, variant=None, verbose=True):
    """Return the folder of data set `name`, fetching it first if needed.

    `variant` is 'sample' or 'full' (default: 'sample' in quick mode, 'full' in
    full mode). Looks in the data root, then the mirror, then the network, and
    prints which one it used; raises `DataError` listing all three places when
    none has it. A stand-in in the data root (`data standin`) is used and said to be one.
    Under `torchrun`, local rank 0 of each machine fetches first while the others wait,
    then they find it in the data root; only rank 0 prints.

    >>> path = get_data('dogscats')        # doctest: +SKIP
    >>> sorted(p.name for p in (path / 'train').iterdir())   # doctest: +SKIP
    ['cats', 'dogs']

    Used in lessons 00 to 07.
    """
    with rank0_first(local=True):          # under torchrun: one process per machine fetches
        variant, src = source(name, variant)
        root = data_root()
        dest = root / src.folder
        tried = []
        standin = None
        if not missing_paths(dest, src.layout):
            standin = standin_info(dest)
            origin = (f'stand-in in the data root (scale {standin.get("scale")})' if standin
                      else f'data root ({dest})')
        elif (found := _from_mirror(src, dest, tried)) is not None:
            origin = found
        else:
            origin = _from_network(name, variant, src, dest, tried)
        _used[name] = {'variant': variant, 'path': str(dest), 'origin': origin,
                       'standin': standin is not None}
        if verbose and is_main():
            print(f'{name} ({variant}): {dest}  [from {origin}]')
            if standin:
                print(f'  {STANDIN_WARNING.upper()}: generated by `data standin`, not the real data.')
        return dest


def _copy_tree(src, dest):
    """Copy the folder `src` to `dest` via a temporary sibling; files come out writable."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{dest.name}.', dir=dest.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True, copy_function=shutil.copyfile)
        for d, _, files in os.walk(tmp):
            os.chmod(d, 0o755)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _verify_against_sums(mirror, folder, copied):
    """Check the copied files against the mirror's SHA256SUMS, when it has one."""
    sums = mirror / 'SHA256SUMS'
    if not sums.exists():
        return
    prefix = f'./{folder}/'
    for line in sums.read_text().splitlines():
        digest, _, rel = line.partition('  ')
        if rel.startswith(prefix):
            f = copied / rel[len(prefix):]
            if not f.exists() or sha256sum(f) != digest:
                shutil.rmtree(copied, ignore_errors=True)
                raise DataError(f'The mirror copy of {rel} does not match {sums}: the mirror is '
                                'damaged. Nothing was kept; fix or unset COURSE_DATA_MIRROR.')


def _from_mirror(src, dest, tried):
    """Copy the data set from the mirror into `dest`; return a description, or None."""
    mirror = mirror_root()
    if mirror is None:
        tried.append('mirror: COURSE_DATA_MIRROR is not set')
        return None
    folder = mirror / src.folder
    missing = missing_paths(folder, src.layout)
    if missing:
        tried.append(f'mirror {folder}: missing {", ".join(missing)}')
        return None
    _copy_tree(folder, dest)
    _verify_against_sums(mirror, src.folder, dest)
    return f'mirror ({folder}, copied)'


def _hash_book(root):
    """The file where sha256s of first downloads are recorded, and its contents."""
    book = root / '.downloads' / 'sha256.json'
    return book, (json.loads(book.read_text()) if book.exists() else {})


def _download_verified(url, root, src):
    """Download `url` into `root/.downloads`, checked against the known or recorded sha256."""
    book, known = _hash_book(root)
    expected = src.sha256 or known.get(url)
    archive = root / '.downloads' / Path(url).name
    if archive.exists() and expected and sha256sum(archive) != expected:
        archive.unlink()                        # a damaged cached archive: fetch it again
    if not archive.exists():
        download(url, archive, sha256=expected, size=src.size)
    if expected is None:
        known[url] = sha256sum(archive)
        book.write_text(json.dumps(known, indent=1, sort_keys=True))
        print(f'  no published sha256 for {Path(url).name}: recorded {known[url][:16]}... '
              f'in {book}; later downloads must match it')
    return archive


def _content_root(folder):
    """Descend through a single top-level folder, as most archives have one."""
    items = [p for p in folder.iterdir() if not p.name.startswith('.')]
    return _content_root(items[0]) if len(items) == 1 and items[0].is_dir() else folder


def _unpack_into(archive, src, dest):
    """Unpack (or place) the downloaded file, then cut or rename it into `dest`."""
    staging = dest.parent / f'.{dest.name}.staging'
    if archive.suffix in ('.txt', '.csv'):
        staging.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, staging / archive.name)
        content = staging
    else:
        content = _content_root(safe_extract(archive, staging))
    try:
        if src.cut:
            content = CUTS[src.cut](content, staging.with_suffix('.cut'))
        for old, new in src.rename.items():
            if (content / old).exists():
                os.replace(content / old, content / new)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(content, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(staging.with_suffix('.cut'), ignore_errors=True)


def _from_network(name, variant, src, dest, tried):
    """Fetch from upstream into `dest`; raise a DataError listing every place tried."""
    root = data_root()
    if src.url.startswith('kaggle:'):
        kaggle_fetch(src.url.split(':', 1)[1], dest, src.layout)
        return f'Kaggle ({src.url})'
    url = resolve_url(src.url)
    try:
        archive = _download_verified(url, root, src)
    except NetworkError as e:
        tried.append(f'network {url}: {e}')
        raise DataError(
            f'Could not find data set {name!r} ({variant}). Looked in:\n'
            f'  1. data root {dest}: missing or incomplete (expected {", ".join(src.layout)});'
            ' set COURSE_DATA to the folder that holds it\n'
            f'  2. {tried[0]}; set COURSE_DATA_MIRROR to a folder laid out like the course samples\n'
            f'  3. {tried[-1]}\n   check the internet connection and run again.') from None
    _unpack_into(archive, src, dest)
    missing = missing_paths(dest, src.layout)
    if missing:
        raise DataError(f'{archive.name} unpacked to {dest} but it lacks {", ".join(missing)}: '
                        'the upstream archive changed layout. Please report it.')
    return f'network ({url})'


def list_data():
    """A table (list of dicts) of every data set and variant: size, how made, present or not.

    Used in lesson 00 and by `python -m coursehelpers data list`.
    """
    root, rows = data_root(), []
    for name, variants in DATASETS.items():
        for variant, src in variants.items():
            folder = root / src.folder
            present = not missing_paths(folder, src.layout)
            size = sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) if present else None
            standin = standin_info(folder) if present else None
            kind = f' (STAND-IN, scale {standin.get("scale")})' if standin else ''
            rows.append({'name': name, 'variant': variant + (' (both modes)' if len(variants) == 1 else kind),
                         'standin': standin is not None,
                         'present': present, 'size_mb': None if size is None else round(size / 2**20, 1),
                         'folder': str(folder), 'source': src.url, 'how': src.how})
    return rows


def data_used():
    """{name: {'variant', 'path', 'origin', 'standin'}} for every data set `get_data` resolved
    in this process.

    >>> isinstance(data_used(), dict)
    True

    Used by `record`.
    """
    return {name: dict(info) for name, info in _used.items()}
