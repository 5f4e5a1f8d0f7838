"""`get_data`: find a data set in the data root, a local mirror or on the network.

The registry of data sets is in `data.py`; how samples are cut is in
`samples.py`; bytes are moved by `download.py`.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

from . import samples
from .data import DATASETS, _missing, data_root, mirror_root, resolve_url, source
from .download import DataError, NetworkError, download, safe_extract, sha256sum

__all__ = ['get_data', 'list_data', 'where_from']

# name -> {'variant', 'path', 'origin'} for every data set resolved in this process
where_from = {}


def get_data(name, variant=None, verbose=True):
    """Return the folder of data set `name`, fetching it first if needed.

    `variant` is 'sample' or 'full' (default: 'sample' in quick mode, 'full' in
    full mode). Looks in the data root, then the mirror, then the network, and
    prints which one it used; raises `DataError` listing all three places when
    none has it.

    >>> path = get_data('dogscats')        # doctest: +SKIP
    >>> sorted(p.name for p in (path / 'train').iterdir())   # doctest: +SKIP
    ['cats', 'dogs']

    Used in every lesson.
    """
    variant, src = source(name, variant)
    root = data_root()
    dest = root / src.folder
    tried = []
    if not _missing(dest, src.layout):
        origin = f'data root ({dest})'
    elif (found := _from_mirror(src, dest, tried)) is not None:
        origin = found
    else:
        origin = _from_network(name, variant, src, dest, tried)
    where_from[name] = {'variant': variant, 'path': str(dest), 'origin': origin}
    if verbose:
        print(f'{name} ({variant}): {dest}  [from {origin}]')
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
    missing = _missing(folder, src.layout)
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
            content = samples.CUTS[src.cut](content, staging.with_suffix('.cut'))
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
        from .kaggle import kaggle_fetch
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
    missing = _missing(dest, src.layout)
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
            present = not _missing(folder, src.layout)
            size = sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) if present else None
            rows.append({'name': name, 'variant': variant + (' (both modes)' if len(variants) == 1 else ''),
                         'present': present, 'size_mb': None if size is None else round(size / 2**20, 1),
                         'folder': str(folder), 'source': src.url, 'how': src.how})
    return rows
