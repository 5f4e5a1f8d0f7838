"""Downloading and unpacking, carefully.

`download` streams a URL to `NAME.part` with a progress bar, resumes a cut
transfer with an HTTP Range request, checks size and sha256, and only then
renames the file into place. `safe_extract` refuses any archive member that
would land outside its folder (`..`, absolute paths, links pointing out,
device files) before it writes a single byte.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

__all__ = ['DataError', 'NetworkError', 'download', 'sha256sum', 'safe_extract']

CHUNK = 1 << 20


class DataError(RuntimeError):
    """A data set could not be found, fetched, verified or unpacked; the message says what to do."""


class NetworkError(DataError):
    """The server could not be reached or the transfer kept failing."""


def sha256sum(path):
    """Return the hex sha256 of the file at `path`, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            h.update(block)
    return h.hexdigest()


def _fetch_once(url, part, timeout, progress):
    """Append the rest of `url` to `part`; return (bytes now in part, total size or None)."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={'User-Agent': 'coursehelpers'})
    if have:
        req.add_header('Range', f'bytes={have}-')
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:               # nothing left to send: the part is whole
            return have, have
        raise
    with resp:
        if have and resp.status != 206:          # server ignored the Range: start again
            have = 0
        length = resp.headers.get('Content-Length')
        total = have + int(length) if length is not None else None
        progress.reset(total=total)
        progress.update(have)
        with open(part, 'ab' if have else 'wb') as f:
            while block := resp.read(CHUNK):
                f.write(block)
                progress.update(len(block))
    return part.stat().st_size, total


def download(url, dest, sha256=None, size=None, retries=3, timeout=60):
    """Download `url` to the file `dest`, verified, and return `dest`.

    Bytes go to `dest + '.part'` first; a cut transfer is resumed (up to
    `retries` more tries); the size and sha256, when given, are checked before
    the file is renamed to `dest`. A wrong hash deletes the part and raises
    `DataError` naming the URL, the expected and the actual hash.

    >>> download('https://example.org/x.tgz', 'data/.downloads/x.tgz')  # doctest: +SKIP

    Used by `get_data`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + '.part')
    last_error = None
    with tqdm(total=size, unit='B', unit_scale=True, unit_divisor=1024, desc=dest.name) as bar:
        for attempt in range(retries + 1):
            try:
                got, total = _fetch_once(url, part, timeout, bar)
                if total is None or got >= total:
                    break
                last_error = f'the connection closed after {got:,} of {total:,} bytes'
            except (urllib.error.URLError, OSError) as e:
                last_error = str(getattr(e, 'reason', e))
            time.sleep(min(2 ** attempt, 10) * 0.1)
        else:
            raise NetworkError(
                f'Could not download {url}: {last_error}.\nThe partial file is kept at {part}; '
                'run the same command again to resume, or check your internet connection.')
    _verify(url, part, sha256, size)
    os.replace(part, dest)
    return dest


def _verify(url, part, sha256, size):
    """Check the size and hash of a finished download; delete it and raise when wrong."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise DataError(f'Download of {url} has {actual_size:,} bytes, expected {size:,}. '
                        'The file was deleted; run the command again. If it happens twice, '
                        'the upstream file changed: please report it.')
    if sha256 is not None:
        actual = sha256sum(part)
        if actual != sha256:
            part.unlink()
            raise DataError(f'Download of {url} failed its check:\n  expected sha256 {sha256}\n'
                            f'  actual sha256   {actual}\nThe file was deleted. Run the command '
                            'again; if the hash is still wrong, the file upstream changed or '
                            'was tampered with: do not use it, and report it.')


def _check_member(name, dest, link=None):
    """Raise DataError if an archive member `name` (or its link target) leaves `dest`."""
    for path in (name, link):
        if path is None:
            continue
        p = PurePosixPath(path.replace('\\', '/'))
        if p.is_absolute() or (p.parts and p.parts[0].endswith(':')):
            raise DataError(f'Refusing to unpack: member {name!r} has an absolute path {path!r}.')
    target = (dest / name).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise DataError(f'Refusing to unpack: member {name!r} would be written outside {dest}.')
    if link is not None:
        base = (dest / name).parent if not link.startswith('/') else Path('/')
        out = (base / link).resolve()
        if not out.is_relative_to(dest.resolve()):
            raise DataError(f'Refusing to unpack: member {name!r} links to {link!r}, outside {dest}.')


def _check_tar(tf, dest):
    for m in tf.getmembers():
        if m.isdev():
            raise DataError(f'Refusing to unpack: member {m.name!r} is a device file.')
        if m.issym():
            _check_member(m.name, dest, m.linkname)
        elif m.islnk():
            _check_member(m.name, dest)
            _check_member(m.linkname, dest)
        else:
            _check_member(m.name, dest)


def safe_extract(archive, dest):
    """Unpack a .tgz/.tar/.zip `archive` into the folder `dest` and return `dest`.

    Every member is checked first; one that would land outside `dest` refuses
    the whole archive with a `DataError` and nothing is written. Unpacking goes
    to a temporary folder beside `dest`, which is renamed into place at the end.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{dest.name}.', dir=dest.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise DataError(f'Refusing to unpack: zip member {info.filename!r} is a link.')
                    _check_member(info.filename, tmp)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _check_tar(tf, tmp)
                tf.extractall(tmp, filter='data')
        else:
            raise DataError(f'{archive} is neither a tar nor a zip archive; delete it and fetch again.')
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
