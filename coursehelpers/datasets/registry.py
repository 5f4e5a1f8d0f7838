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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ..env.distributed import is_main, rank0_first
from ..env.modes import get_mode
from ..env.paths import STANDIN_WARNING, data_root, mirror_root, standin_info
from .download import (DataError, NetworkError, check_url, disk_error, download, file_digests,
                       replace_folder, safe_extract, sha256sum)
from .kaggle import kaggle_fetch
from .mirror import copy_from_mirror

__all__ = ['DATASETS', 'Source', 'DataError', 'source', 'missing_paths', 'resolve_url',
           'expected_checksum', 'get_data', 'list_data', 'data_used', 'CUTS']

# name -> {'variant', 'path', 'origin'} for every data set resolved in this process
_used = {}


FASTAI = 'https://s3.amazonaws.com/fast-ai-sample/'

# Published checksums. fast.ai lists the size and MD5 of each of its archives in
# fastai/fastai, fastai/data/checks.txt; TensorFlow Datasets lists size and sha256 of the
# aclImdb and MovieLens archives in tensorflow/datasets,
# tensorflow_datasets/datasets/imdb_reviews/checksums.tsv and
# tensorflow_datasets/url_checksums/movielens.txt. The Rossmann archive (files.fast.ai,
# part 2) and nietzsche.txt appear in no such list: they are trusted on first use.
FASTAI_LIST = ('fast.ai archive list (fastai/fastai, fastai/data/checks.txt @ 29be53d)')
TFDS_IMDB = ('TensorFlow Datasets (tensorflow/datasets, '
             'tensorflow_datasets/datasets/imdb_reviews/checksums.tsv @ 90b6623)')
TFDS_MOVIELENS = ('TensorFlow Datasets (tensorflow/datasets, '
                  'tensorflow_datasets/url_checksums/movielens.txt @ 1c076ac)')
DOGSCATS = dict(checksum='md5:3e483c8d6ef2175e9d395a6027eb92b7', size=839_285_364,
                checksum_from=FASTAI_LIST)


@dataclass(frozen=True)
class Source:
    """One variant of a data set: where it comes from and how it must look on disk.

    `url` is an https URL or `kaggle:COMPETITION`; `checksum` ('md5:HEX', 'sha256:HEX') and
    `size` are the values its publisher or a well-known listing publishes, and `checksum_from`
    says where they come from. Without one, the sha256 of the first download is recorded, once
    the archive unpacked with the expected layout, and checked on every later download
    ("trusted on first use"). `folder` is its place under the data root and in the
    mirror; `layout` lists paths that must exist inside it; `how` says in words
    how the variant is made. `cut` names a function in `CUTS` that cuts a
    sample out of the unpacked upstream archive.
    """
    url: str
    folder: str
    layout: tuple
    how: str
    checksum: str = None
    size: int = None
    checksum_from: str = None
    cut: str = None
    rename: dict = field(default_factory=dict)


DATASETS = {
    'dogscats': {
        'full': Source(FASTAI + 'dogscats.tgz', 'full/dogscats',
                       ('train/cats', 'train/dogs', 'valid/cats', 'valid/dogs'),
                       'fast.ai mirror of Kaggle dogs vs cats (about 840 MB)', **DOGSCATS),
        'sample': Source(FASTAI + 'dogscats.tgz', 'dogscats',
                         ('train/cats', 'train/dogs', 'valid/cats', 'valid/dogs'),
                         'cut from the full archive: first 150 train and 50 valid images per class',
                         cut='dogscats', **DOGSCATS),
    },
    'planet': {
        'full': Source('kaggle:planet-understanding-the-amazon-from-space', 'full/planet',
                       ('train-jpg', 'train_v2.csv'),
                       'Kaggle competition files train-jpg and train_v2.csv (needs a Kaggle account)'),
        'sample': Source(FASTAI + 'planet_sample.tgz', 'planet', ('train-jpg', 'train_v2.csv'),
                         'upstream fast.ai planet_sample, renamed to the Kaggle layout',
                         rename={'train': 'train-jpg', 'labels.csv': 'train_v2.csv'},
                         checksum='md5:8bfb174b3162f07fbde09b54555bdb00', size=15_523_994,
                         checksum_from=FASTAI_LIST),
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
                       'Stanford aclImdb v1: 25k train, 25k test, 50k unlabelled reviews',
                       checksum='sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe',
                       size=84_125_825, checksum_from=TFDS_IMDB),
        'sample': Source(FASTAI + 'imdb_sample.tgz', 'imdb_sample', ('texts.csv',),
                         'upstream fast.ai imdb_sample: 1,000 reviews',
                         checksum='md5:0842e61a9867caa2e6fbdb14fa703d61', size=571_827,
                         checksum_from=FASTAI_LIST),
    },
    'ml-latest-small': {
        'full': Source('https://files.grouplens.org/datasets/movielens/ml-latest-small.zip',
                       'ml-latest-small', ('ratings.csv', 'movies.csv'),
                       'GroupLens ml-latest-small: 100,836 ratings (the same files in both modes)',
                       checksum='sha256:696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436',
                       size=978_202, checksum_from=TFDS_MOVIELENS),
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
        if not standin and not origin.startswith('data root'):
            _note_origin(root, src.folder, origin)
        _used[name] = {'variant': variant, 'path': str(dest), 'origin': origin,
                       'standin': standin is not None}
        if verbose and is_main():
            print(f'{name} ({variant}): {dest}  [from {origin}]')
            if standin:
                print(f'  {STANDIN_WARNING.upper()}: generated by `data standin`, not the real data.')
        return dest


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
    return copy_from_mirror(mirror, src.folder, dest)


def _book(root, name):
    """A small JSON record under `root/.downloads`: its path and contents."""
    book = root / '.downloads' / name
    try:
        return book, (json.loads(book.read_text()) if book.exists() else {})
    except ValueError:
        return book, {}


def _write_book(book, contents):
    try:
        book.parent.mkdir(parents=True, exist_ok=True)
        tmp = book.with_name(book.name + '.tmp')
        tmp.write_text(json.dumps(contents, indent=1, sort_keys=True))
        os.replace(tmp, book)
    except OSError as e:
        raise disk_error(e, book) from None


def expected_checksum(src, url, root=None):
    """(checksum, where it comes from) a download of `src` must match: the published one,
    else the sha256 recorded at its first good download, else (None, why none)."""
    if src.checksum:
        return src.checksum, src.checksum_from
    if src.url.startswith('kaggle:'):
        return None, 'no published checksum: the Kaggle API client checks its own transfer'
    recorded = _book(root or data_root(), 'sha256.json')[1].get(url)
    if recorded:
        return f'sha256:{recorded}', 'no published checksum: trusted on first use (recorded)'
    return None, 'no published checksum: trusted on first use (nothing recorded yet)'


def _download_verified(url, root, src):
    """Download `url` into `root/.downloads`, checked against the published or recorded
    checksum. A cached archive that fails it is deleted and fetched again."""
    expected, _ = expected_checksum(src, url, root)
    archive = root / '.downloads' / Path(urlparse(url).path).name
    if archive.exists() and (expected is None or not _matches(archive, expected, src.size)):
        archive.unlink()                        # unverifiable or damaged cached archive: refetch
    if not archive.exists():
        download(url, archive, size=src.size, checksum=expected)
    return archive


def _matches(path, checksum, size):
    algo, _, hexdigest = checksum.partition(':')
    return (size is None or path.stat().st_size == size) and file_digests(path, (algo,))[algo] == hexdigest


def _record(root, url, archive, src):
    """Record the sha256 of a download that unpacked with the expected layout: the reference
    later downloads of an unpublished source must match, and a record for the others."""
    book, known = _book(root, 'sha256.json')
    digest = sha256sum(archive)
    if not src.checksum and url not in known:
        print(f'  no published checksum for {archive.name}: it unpacked with the expected layout, '
              f'so its sha256 {digest[:16]}... is recorded in {book}; later downloads must match it')
    known[url] = digest
    _write_book(book, known)


def _content_root(folder):
    """Descend through a single top-level folder, as most archives have one."""
    items = [p for p in folder.iterdir() if not p.name.startswith('.')]
    return _content_root(items[0]) if len(items) == 1 and items[0].is_dir() else folder


def _unpack_into(archive, src, dest):
    """Unpack (or place) the downloaded file, cut or rename it, check its layout, and only
    then put it at `dest`. A damaged archive or a wrong layout deletes the archive."""
    staging = dest.parent / f'.{dest.name}.staging'
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if archive.suffix in ('.txt', '.csv'):
            staging.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(archive, staging / archive.name)
            content = staging
        else:
            content = _content_root(safe_extract(archive, staging))
        if src.cut:
            content = CUTS[src.cut](content, staging.with_suffix('.cut'))
        for old, new in src.rename.items():
            if (content / old).exists():
                os.replace(content / old, content / new)
        missing = missing_paths(content, src.layout)
        if missing:
            raise DataError(f'{archive.name} unpacked, but it lacks {", ".join(missing)}: the '
                            'upstream archive changed layout (or is the wrong file). Please report it.')
        replace_folder(content, dest)
    except DataError as e:
        archive.unlink(missing_ok=True)
        raise DataError(f'{e}\nThe downloaded {archive} was deleted, not kept as the reference; '
                        'run the same command again to fetch it anew.') from None
    except OSError as e:
        raise disk_error(e, dest) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(staging.with_suffix('.cut'), ignore_errors=True)


def _from_network(name, variant, src, dest, tried):
    """Fetch from upstream into `dest`; raise a DataError listing every place tried."""
    root = data_root()
    if src.url.startswith('kaggle:'):
        kaggle_fetch(src.url.split(':', 1)[1], dest, src.layout)
        return f'Kaggle ({src.url})'
    url = check_url(resolve_url(src.url))
    try:
        archive = _download_verified(url, root, src)
    except NetworkError as e:
        tried.append(f'network {url}: {e}')
        raise DataError(
            f'Could not find data set {name!r} ({variant}). Looked in:\n'
            f'  1. data root {dest}: missing or incomplete (expected {", ".join(src.layout)});'
            ' set COURSE_DATA to the folder that holds it\n'
            f'  2. {tried[0]}; set COURSE_DATA_MIRROR to a folder laid out like the course samples\n'
            f'  3. {tried[-1]}') from None
    _unpack_into(archive, src, dest)
    _record(root, url, archive, src)
    return f'network ({url}, {"matches its published checksum" if src.checksum else "no published checksum"})'


def _note_origin(root, folder, origin):
    """Remember where the copy in `folder` came from (shown by `list_data`)."""
    book, origins = _book(root, 'origins.json')
    origins[folder] = origin
    _write_book(book, origins)


def list_data():
    """A table (list of dicts) of every data set and variant: size, how made, present or not,
    the checksum a download is verified against and where it comes from, and where the copy
    in the data root came from (a mirror copy without SHA256SUMS says UNCHECKED).

    Used in lesson 00 and by `python -m coursehelpers data list`.
    """
    root, rows = data_root(), []
    origins = _book(root, 'origins.json')[1]
    for name, variants in DATASETS.items():
        for variant, src in variants.items():
            folder = root / src.folder
            present = not missing_paths(folder, src.layout)
            size = sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) if present else None
            standin = standin_info(folder) if present else None
            kind = f' (STAND-IN, scale {standin.get("scale")})' if standin else ''
            checksum, checksum_from = expected_checksum(src, resolve_url(src.url), root)
            rows.append({'name': name, 'variant': variant + (' (both modes)' if len(variants) == 1 else kind),
                         'standin': standin is not None,
                         'present': present, 'size_mb': None if size is None else round(size / 2**20, 1),
                         'folder': str(folder), 'source': src.url, 'how': src.how,
                         'checksum': checksum, 'checksum_from': checksum_from,
                         'origin': origins.get(src.folder) if present else None})
    return rows


def data_used():
    """{name: {'variant', 'path', 'origin', 'standin'}} for every data set `get_data` resolved
    in this process.

    >>> isinstance(data_used(), dict)
    True

    Used by `record`.
    """
    return {name: dict(info) for name, info in _used.items()}
