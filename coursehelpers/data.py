"""Every data set the course uses, and where to find it.

`get_data('dogscats')` returns a folder laid out as the lesson expects. It looks
in three places, in order, and says which one it used:

1. the data root (`COURSE_DATA`, default `data/` at the top of the course);
2. a local mirror (`COURSE_DATA_MIRROR`, laid out like the course's sample
   folder): the files are copied into the data root, the mirror is only read;
3. the network: a verified, resumable download, unpacked safely.

Quick mode asks for the `sample` variant, full mode for the `full` one.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .download import DataError
from .modes import get_mode

__all__ = ['DATASETS', 'Source', 'data_root', 'mirror_root', 'source', 'resolve_url', 'DataError']

FASTAI = 'https://s3.amazonaws.com/fast-ai-sample/'


@dataclass(frozen=True)
class Source:
    """One variant of a data set: where it comes from and how it must look on disk.

    `url` is an https URL or `kaggle:COMPETITION`; `sha256`/`size` are known
    values or None (then the hash is recorded at the first download and checked
    on every later one). `folder` is its place under the data root and in the
    mirror; `layout` lists paths that must exist inside it; `how` says in words
    how the variant is made. `cut` names a function in `samples.py` that cuts a
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


def data_root():
    """The folder data sets live in: `COURSE_DATA`, else `data/` at the top of the course.

    The top of the course is the nearest folder above the working directory
    that holds both `nbs/` and `coursehelpers/`; failing that, `./data`.
    """
    if os.environ.get('COURSE_DATA'):
        return Path(os.environ['COURSE_DATA']).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / 'nbs').is_dir() and (folder / 'coursehelpers').is_dir():
            return folder / 'data'
    return here / 'data'


def mirror_root():
    """The local mirror from `COURSE_DATA_MIRROR`, or None when it is not set."""
    m = os.environ.get('COURSE_DATA_MIRROR')
    return Path(m).expanduser().resolve() if m else None


def source(name, variant=None):
    """Return (variant, Source) for data set `name`; the variant defaults to the mode's."""
    if name not in DATASETS:
        raise DataError(f'No data set called {name!r}. Known: {", ".join(DATASETS)}.')
    variants = DATASETS[name]
    variant = variant or ('sample' if get_mode() == 'quick' else 'full')
    if variant not in ('sample', 'full'):
        raise DataError(f"Variant {variant!r} of {name!r} does not exist: use 'sample' or 'full'.")
    return (variant, variants[variant]) if variant in variants else ('full', variants['full'])


def _missing(folder, layout):
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
