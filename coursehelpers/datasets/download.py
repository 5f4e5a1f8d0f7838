"""Downloading and unpacking, carefully.

`download` streams a URL to `NAME.part` with a progress bar and only renames it into place
once the whole file is there and matches its checksum. A cut transfer is detected whether
the server sent a Content-Length, chunked encoding or neither (the file's known size, a
`Content-Range` total or a last Range probe decide), and resumed with `Range` plus
`If-Range`, so a file that changed upstream restarts instead of being spliced. Every failure
ends in one `DataError` that names the file, what happened and what to do.

`check_url` is the one check of a URL a user or a server supplies (redirects included);
`check_member` the one check of an archive member; `safe_extract` refuses any member that
would land outside its folder (`..`, absolute paths, links pointing out, device files)
before it writes a single byte.
"""
import errno
import hashlib
import http.client
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlparse

from tqdm.auto import tqdm

__all__ = ['DataError', 'NetworkError', 'download', 'sha256sum', 'file_digests', 'safe_extract',
           'check_url', 'check_member', 'disk_error', 'open_url', 'replace_folder', 'CheckedRedirects']

CHUNK = 1 << 20
ALGORITHMS = ('md5', 'sha1', 'sha256')


class DataError(RuntimeError):
    """A data set could not be found, fetched, verified or unpacked; the message says what to do."""


class NetworkError(DataError):
    """The server could not be reached or the transfer kept failing."""


def sha256sum(path):
    """Return the hex sha256 of the file at `path`, read in 1 MiB chunks."""
    return file_digests(path)['sha256']


def file_digests(path, algorithms=ALGORITHMS):
    """{algorithm: hex digest} of the file at `path` for each of `algorithms`, in one read."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def check_url(url, what='URL'):
    """Return `url` if it is an http(s) URL with a host; raise DataError otherwise.

    The one check for every URL a file, a user or a server's redirect hands us: `file:`,
    `ftp:` and host-less URLs are refused.
    """
    parts = urlparse(str(url))
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise DataError(f'Refusing {what} {url!r}: only http:// and https:// URLs with a host '
                        'are fetched. Check the address.')
    return url


class CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL `check_url` accepts (an opener handler).

    Used by `download` and `download_image`.
    """

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get('Location') or headers.get('URI')
        if target:
            check_url(urljoin(req.full_url, target), f'redirect from {req.full_url} to')
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_opener = urllib.request.build_opener(CheckedRedirects)


def open_url(req, timeout):
    """`urlopen` whose redirects go through `check_url`. Used by `download` and `download_image`."""
    check_url(req.full_url)
    return _opener.open(req, timeout=timeout)


def disk_error(e, path):
    """A DataError for an OSError `e` raised while writing `path` on this machine."""
    folder = Path(path).parent
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        free = shutil.disk_usage(folder).free if folder.exists() else 0
        return DataError(f'No space left on the disk of {folder} while writing {Path(path).name} '
                         f'({free / 2**20:,.0f} MB free). Free some space (or set COURSE_DATA to '
                         'a bigger disk) and run the same command again.')
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return DataError(f'Cannot write {path}: {e.strerror}. Set COURSE_DATA to a folder you '
                         'can write to, and run the same command again.')
    return DataError(f'Writing {path} failed: {e}. Check the disk, then run the command again.')


def _validator_file(part):
    return part.with_name(part.name + '.json')


def _read_validator(part, url):
    """The ETag or Last-Modified the bytes in `part` came with, or None."""
    try:
        meta = json.loads(_validator_file(part).read_text())
    except (OSError, ValueError):
        return None
    return meta.get('validator') if meta.get('url') == url else None


def _validator(headers):
    """A strong ETag, else Last-Modified: what `If-Range` may carry (weak ETags may not)."""
    etag = headers.get('ETag')
    return etag if etag and not etag.startswith('W/') else headers.get('Last-Modified')


def _total(resp, have, known_size):
    """The whole file's size: from Content-Range, Content-Length, or the size we know."""
    crange = resp.headers.get('Content-Range', '')
    if '/' in crange and crange.rsplit('/', 1)[1].isdigit():
        return int(crange.rsplit('/', 1)[1])
    length = resp.headers.get('Content-Length')
    if length is not None and resp.headers.get('Transfer-Encoding') is None:
        return have + int(length)
    return known_size


def _fetch_once(url, part, timeout, progress, known_size):
    """Append the rest of `url` to `part`; return (bytes now in part, total size or None).

    A resume sends `Range` with `If-Range` (the ETag or Last-Modified the first bytes came
    with): a file that changed upstream comes back whole (200) and the part starts again.
    Without a validator nothing is resumed. Errors while writing raise `disk_error`.
    """
    have = part.stat().st_size if part.exists() else 0
    validator = _read_validator(part, url) if have else None
    if not validator:
        have = 0
    req = urllib.request.Request(url, headers={'User-Agent': 'coursehelpers'})
    if have:
        req.add_header('Range', f'bytes={have}-')
        req.add_header('If-Range', validator)
    try:
        resp = open_url(req, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:               # nothing left to send: the part is whole
            return have, have
        raise
    with resp:
        if have and (resp.status != 206 or
                     not resp.headers.get('Content-Range', '').startswith(f'bytes {have}-')):
            have = 0                              # changed upstream, or Range ignored: restart
        total = _total(resp, have, known_size)
        try:
            _validator_file(part).write_text(json.dumps({'url': url, 'validator': _validator(resp.headers)}))
            f = open(part, 'ab' if have else 'wb')
        except OSError as e:
            raise disk_error(e, part) from None
        progress.reset(total=total)
        progress.update(have)
        with f:
            while True:
                try:
                    block = resp.read1(CHUNK)          # what arrived so far, chunked or not
                except http.client.IncompleteRead as e:   # keep what came, then say it was cut
                    _write(f, e.partial, part)
                    raise
                if not block:
                    break
                _write(f, block, part)
                progress.update(len(block))
    return part.stat().st_size, total


def _write(f, block, part):
    try:
        f.write(block)
    except OSError as e:
        raise disk_error(e, part) from None


def _why(e):
    """What went wrong with a transfer, in words."""
    if isinstance(e, http.client.IncompleteRead):
        return 'the connection closed in the middle of the file'
    if isinstance(e, urllib.error.HTTPError):
        return f'the server answered HTTP {e.code} {e.reason}'
    return str(getattr(e, 'reason', e)) or type(e).__name__


def download(url, dest, sha256=None, size=None, retries=3, timeout=60, checksum=None):
    """Download `url` to the file `dest`, verified, and return `dest`.

    Bytes go to `dest + '.part'` first. A transfer that stops early (with or without a
    Content-Length, chunked or not) is resumed, up to `retries` more tries; a body of
    unknown length is only accepted once a Range request past its end is answered
    "nothing left" (416), or two whole transfers agree. The size, and `checksum`
    ('md5:HEX', 'sha1:HEX' or 'sha256:HEX') or `sha256`, are checked over the whole file
    before it is renamed to `dest`; a mismatch deletes it and raises `DataError` naming the
    URL, the expected and the actual value.

    >>> download('https://example.org/x.tgz', 'data/.downloads/x.tgz')  # doctest: +SKIP

    Used by `get_data`.
    """
    dest = Path(dest)
    checksum = checksum or (f'sha256:{sha256}' if sha256 else None)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(e, dest) from None
    part = dest.with_name(dest.name + '.part')
    last_error, whole_unknown = None, None
    with tqdm(total=size, unit='B', unit_scale=True, unit_divisor=1024, desc=dest.name) as bar:
        for attempt in range(retries + 1):
            try:
                got, total = _fetch_once(url, part, timeout, bar, size)
                if total is not None and got >= total:
                    break
                if total is None:                 # no length: probe past the end, or compare
                    if whole_unknown == got:
                        break
                    whole_unknown = got
                    last_error = f'the server never said how long the file is ({got:,} bytes came)'
                    continue
                last_error = f'the connection closed after {got:,} of {total:,} bytes'
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                last_error = _why(e)
            time.sleep(min(2 ** attempt, 10) * 0.1)
        else:
            raise NetworkError(
                f'Could not download {url}: {last_error} ({retries + 1} tries).\n'
                + (f'The partial file is kept at {part}; run the same command again to resume it. '
                   if part.exists() and part.stat().st_size else 'Run the same command again. ')
                + 'If it keeps failing, check the internet connection (or set COURSE_DATA_MIRROR).')
    _verify(url, part, checksum, size)
    _validator_file(part).unlink(missing_ok=True)
    os.replace(part, dest)
    return dest


def _discard(part):
    part.unlink(missing_ok=True)
    _validator_file(part).unlink(missing_ok=True)


def _verify(url, part, checksum, size):
    """Check the size and checksum of a finished download; delete it and raise when wrong."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        _discard(part)
        raise DataError(f'Download of {url} has {actual_size:,} bytes, expected {size:,}. '
                        'The file was deleted; run the command again. If it happens twice, '
                        'the upstream file changed: please report it.')
    if checksum is not None:
        algo, _, expected = checksum.partition(':')
        actual = file_digests(part, (algo,))[algo]
        if actual != expected:
            _discard(part)
            raise DataError(f'Download of {url} failed its check:\n  expected {algo} {expected}\n'
                            f'  actual {algo}   {actual}\nThe file was deleted. Run the command '
                            'again; if it is still wrong, the file upstream changed or '
                            'was tampered with: do not use it, and report it.')


def check_member(name, dest, link=None):
    """Raise DataError if an archive member `name` (or its link target) leaves `dest`.

    The one check for a path inside an archive or a mirror listing, before anything is written.
    """
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
            check_member(m.name, dest, m.linkname)
        elif m.islnk():
            check_member(m.name, dest)
            check_member(m.linkname, dest)
        else:
            check_member(m.name, dest)


def _foreign_files(dest, new):
    """The files (and links) in `dest` that `new` does not have with the same path and size."""
    if dest.is_symlink() or not dest.is_dir():
        return [dest]
    out = []
    for p in dest.rglob('*'):
        if p.is_dir() and not p.is_symlink():
            continue
        mine = new / p.relative_to(dest)
        if p.is_symlink() or not mine.is_file() or mine.stat().st_size != p.stat().st_size:
            out.append(p)
    return out


def replace_folder(new, dest):
    """Put the folder `new` in place of `dest`. An existing `dest` is deleted only when every
    file in it is also in `new` (same path and size): one with anything else in it, a
    student's own file for instance, is moved aside, and where it went is printed.
    Returns the moved-aside folder, or None.
    """
    new, dest = Path(new), Path(dest)
    aside = None
    if dest.exists() or dest.is_symlink():
        foreign = _foreign_files(dest, new)
        if foreign:
            aside = dest.with_name(f'{dest.name}.before-{time.strftime("%Y%m%d-%H%M%S")}')
            os.replace(dest, aside)
            print(f'  {dest} had files the course did not put there (e.g. '
                  f'{foreign[0].relative_to(dest) if foreign[0] != dest else dest.name}); '
                  f'it was moved aside, untouched, to {aside}')
        else:
            shutil.rmtree(dest)
    os.replace(new, dest)
    return aside


def safe_extract(archive, dest):
    """Unpack a .tgz/.tar/.zip `archive` into the folder `dest` and return `dest`.

    Every member is checked first (`check_member`); one that would land outside `dest`
    refuses the whole archive with a `DataError` and nothing is written. A damaged archive
    (cut short, not an archive) is a `DataError` too. Unpacking goes to a temporary folder
    beside `dest`, which then replaces it (`replace_folder`).
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
                    check_member(info.filename, tmp)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _check_tar(tf, tmp)
                tf.extractall(tmp, filter='data')
        else:
            raise DataError(f'{archive} is neither a tar nor a zip archive (or it is cut short): '
                            'delete it and fetch it again.')
        replace_folder(tmp, dest)
    except OSError as e:
        if e.errno is not None:
            raise disk_error(e, dest) from None
        raise DataError(f'{archive} is damaged ({type(e).__name__}: {e}): delete it and fetch '
                        'it again.') from None
    except (EOFError, tarfile.TarError, zipfile.BadZipFile, ValueError) as e:
        raise DataError(f'{archive} is damaged ({type(e).__name__}: {e or "cut short"}): delete '
                        'it and fetch it again.') from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
