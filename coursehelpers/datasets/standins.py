"""Stand-ins for the full data sets: their layout, formats and counts, made from the samples.

Full mode trains on the complete data sets, which need a download of gigabytes (and, for
Planet, a Kaggle account). To rehearse full mode without them, `make_standin('dogscats')`
(or `python -m coursehelpers data standin dogscats --scale 0.02`) writes a stand-in into the
full variant's folder under the data root, where `get_data` finds it in full mode: the same
folders, file names, file formats and columns as the real full set, and at scale 1 its
counts, made from the real sample photos and texts (`standin_images.py`,
`standin_text_tables.py`). A stand-in's folder holds a marker, `STANDIN.json`; `get_data`,
`list_data`, the banner and `record` honour it: stand-in data, the metrics mean nothing.
MovieLens and Nietzsche need none: full mode reads the same real files as quick mode.
"""
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ..env.paths import STANDIN_MARKER, STANDIN_WARNING, data_root, standin_info
from .download import DataError
from .registry import DATASETS, get_data, missing_paths, source
from .standin_images import make_dogscats, make_planet
from .standin_text_tables import make_imdb, make_rossmann

__all__ = ['STANDIN_MAKERS', 'make_standin', 'standin_names']

# name -> (function that fills a folder, whether it takes `workers`)
STANDIN_MAKERS = {'dogscats': (make_dogscats, True), 'planet': (make_planet, True),
                  'rossmann': (make_rossmann, False), 'imdb': (make_imdb, True)}


def standin_names(names):
    """The data sets `names` asks for ('all': every one with a stand-in), checked.

    >>> standin_names(['all'])
    ['dogscats', 'planet', 'rossmann', 'imdb']

    Used by `python -m coursehelpers data standin`.
    """
    if list(names) == ['all']:
        return list(STANDIN_MAKERS)
    for name in names:
        if name in DATASETS and name not in STANDIN_MAKERS:
            raise DataError(f'{name} needs no stand-in: full mode reads the same real files as '
                            f'quick mode. Stand-ins exist for {", ".join(STANDIN_MAKERS)}.')
        if name not in STANDIN_MAKERS:
            raise DataError(f'No data set called {name!r}. Stand-ins exist for '
                            f'{", ".join(STANDIN_MAKERS)} (or say all).')
    return list(names)


def make_standin(name, scale=1.0, seed=0, workers=None):
    """Write a stand-in for the full variant of data set `name` into the data root.

    Args:
        name: 'dogscats', 'planet', 'rossmann' or 'imdb'.
        scale: the fraction of the real full counts, in (0, 1] (1: the real counts).
        seed: the same seed, sample and scale give the same files.
        workers: processes for the work (default: every core).
    Returns:
        the folder written (the full variant's folder, e.g. `data/full/dogscats`).
    Raises:
        DataError when the folder holds the real data set (it is never replaced), or for a
        scale outside (0, 1].

    >>> make_standin('dogscats', scale=0.02)          # doctest: +SKIP

    Used by `python -m coursehelpers data standin`.
    """
    standin_names([name])
    if not 0 < scale <= 1:
        raise DataError(f'scale={scale}: give a fraction of the real counts, more than 0 and at '
                        'most 1 (1 writes as many files as the real data set).')
    _, src = source(name, 'full')
    dest = data_root() / src.folder
    if dest.exists() and not missing_paths(dest, src.layout) and standin_info(dest) is None:
        raise DataError(f'{dest} holds the real full {name} data set; a stand-in would replace '
                        'it, so nothing was written. Set COURSE_DATA to another data root to '
                        'rehearse there.')
    sample = get_data(name, 'sample', verbose=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{dest.name}.standin.', dir=dest.parent))
    try:
        start = time.perf_counter()
        make, takes_workers = STANDIN_MAKERS[name]
        make(sample, tmp, scale=scale, seed=seed, **({'workers': workers} if takes_workers else {}))
        _check_and_mark(name, src, tmp, scale, seed, sample, time.perf_counter() - start)
        if dest.exists():
            shutil.rmtree(dest)                     # an earlier stand-in (checked above)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'{name}: stand-in at scale {scale} in {dest} ({time.perf_counter() - start:.0f} s); '
          f'{STANDIN_WARNING}')
    return dest


def _check_and_mark(name, src, folder, scale, seed, sample, seconds):
    """Check the generated folder against the registry's layout, then write its marker."""
    missing = missing_paths(folder, src.layout)
    if missing:
        raise DataError(f'The {name} stand-in lacks {", ".join(missing)} of the full layout: '
                        'this is a bug in the generator, please report it.')
    files = sum(1 for p in folder.rglob('*') if p.is_file())
    marker = {'name': name, 'scale': scale, 'seed': seed, 'made_from': str(sample),
              'files': files, 'seconds': round(seconds, 1),
              'made': datetime.now(timezone.utc).isoformat(timespec='seconds'),
              'note': f'{STANDIN_WARNING}: generated from the quick-mode sample, not the real '
                      'data set'}
    (folder / STANDIN_MARKER).write_text(json.dumps(marker, indent=1) + '\n')
