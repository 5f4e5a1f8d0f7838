"""Collect your own images: download a list of URLs into a folder, keep only real images.

The web is messy: a link can time out, answer with an HTML page instead of a picture,
send a 2 GB file, or serve a JPEG that is cut off. `download_images` gives every URL
a deadline and a size limit, writes each file under a temporary name and renames it
only after it decoded as an image, and returns a table saying what happened to each.

>>> report = download_images(urls, data_root() / 'bears' / 'grizzly')    # doctest: +SKIP
>>> report.status.value_counts()                                          # doctest: +SKIP

Used in lesson 07.
"""
import contextlib
import functools
import hashlib
import http.client
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from ..datasets.download import CheckedRedirects, DataError, check_url
from ..vision.files import IMAGE_EXTENSIONS, ImageError, open_image

__all__ = ['download_image', 'download_images', 'read_urls']

USER_AGENT = 'coursehelpers image downloader'


class SkipImage(Exception):
    """One URL that did not give an image; the message is the reason shown in the report."""


def read_urls(file):
    """The URLs in a text file, one per line; blank lines and `#` comments are skipped.

    >>> read_urls(data_root() / 'my_urls.txt')[:2]          # doctest: +SKIP

    Used in lesson 07.
    """
    lines = Path(file).read_text(encoding='utf-8', errors='replace').splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith('#')]


class _Deadline:
    """An HTTP(S) connection whose socket is shut down at `deadline` (time.monotonic()), so a
    server that sends its headers, or its body, a byte at a time cannot hold it longer."""

    def __init__(self, *args, deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline, self.expired, self.timer = deadline, False, None

    def connect(self):
        super().connect()
        self.timer = threading.Timer(max(self.deadline - time.monotonic(), 0) + 0.05, self.expire)
        self.timer.daemon = True
        self.timer.start()

    def expire(self):
        self.expired = True
        with contextlib.suppress(OSError, AttributeError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self):
        if self.timer is not None:
            self.timer.cancel()
        super().close()


class _DeadlineHTTP(_Deadline, http.client.HTTPConnection):
    pass


class _DeadlineHTTPS(_Deadline, http.client.HTTPSConnection):
    pass


def _opener(deadline):
    """An opener whose connections all end at `deadline`, redirects checked by `check_url`."""
    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(functools.partial(_DeadlineHTTP, deadline=deadline), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(functools.partial(_DeadlineHTTPS, deadline=deadline), req,
                                context=ssl.create_default_context())

    return urllib.request.build_opener(HTTP, HTTPS, CheckedRedirects)


def _fetch(url, timeout, max_bytes):
    """The body of `url`, refusing non-images, bodies over `max_bytes` and slow servers.

    `timeout` is the whole request's deadline, from the first byte sent: connecting, the
    headers and the body together.
    """
    try:
        check_url(url)
    except DataError:
        raise SkipImage('not an http(s) URL') from None
    deadline = time.monotonic() + timeout
    req = urllib.request.Request(url, headers={'User-Agent': USER_AGENT})
    try:
        with _opener(deadline).open(req, timeout=timeout) as r:
            if time.monotonic() > deadline:             # headers cut short by the deadline
                raise SkipImage(f'took longer than {timeout} s')
            kind = r.headers.get_content_type()
            if not kind.startswith('image/'):
                raise SkipImage(f'served {kind}, not an image')
            size = int(r.headers.get('Content-Length') or 0)
            if size > max_bytes:
                raise SkipImage(f'{size:,} bytes, over the limit of {max_bytes:,}')
            chunks, total = [], 0
            while chunk := r.read1(64 * 1024):        # returns after each network read
                total += len(chunk)
                if total > max_bytes:
                    raise SkipImage(f'more than {max_bytes:,} bytes, over the limit')
                if time.monotonic() > deadline:
                    raise SkipImage(f'took longer than {timeout} s')
                chunks.append(chunk)
            if time.monotonic() > deadline:             # the deadline cut the body short
                raise SkipImage(f'took longer than {timeout} s')
            return b''.join(chunks), kind
    except urllib.error.HTTPError as e:
        raise SkipImage(f'HTTP {e.code} {e.reason}') from None
    except DataError as e:                             # a redirect to a URL check_url refuses
        raise SkipImage(str(e)) from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, 'reason', e)
        if isinstance(reason, TimeoutError) or 'timed out' in str(reason):
            raise SkipImage(f'no answer within {timeout} s') from None
        if time.monotonic() > deadline:
            raise SkipImage(f'took longer than {timeout} s') from None
        raise SkipImage(f'network error: {reason}') from None


def _suffix(url, kind):
    """A file extension from the URL, else from the content type, else .jpg."""
    ext = Path(urllib.request.urlparse(url).path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return ext
    by_type = {'image/png': '.png', 'image/gif': '.gif', 'image/webp': '.webp',
               'image/bmp': '.bmp', 'image/tiff': '.tif'}
    return by_type.get(kind, '.jpg')


def _already_here(url, dest):
    """The file an earlier call saved for `url` in `dest` (named by a hash of the URL), or None."""
    stem = hashlib.sha1(url.encode()).hexdigest()[:16]
    done = [p for p in Path(dest).glob(f'{stem}.*') if p.suffix != '.part']
    return done[0] if done else None


def download_image(url, dest, timeout=10, max_bytes=10_000_000):
    """Download one image into folder `dest`; return its path, or raise SkipImage(reason).

    The file is named after a hash of the URL (the same URL is never fetched twice),
    written as `.part` and renamed only once it decodes as an image.
    """
    done = _already_here(url, dest)
    if done:
        return done
    body, kind = _fetch(url, timeout, max_bytes)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    file = dest / f'{hashlib.sha1(url.encode()).hexdigest()[:16]}{_suffix(url, kind)}'
    part = file.with_name(file.name + '.part')
    part.write_bytes(body)
    try:
        open_image(part)                                # every pixel decodes
    except ImageError as e:
        part.unlink()
        raise SkipImage(f'{kind} body that does not decode as an image ({e.__cause__})') from None
    os.replace(part, file)
    return file


def download_images(urls, dest, timeout=10, max_bytes=10_000_000, max_images=None):
    """Download image URLs into folder `dest`; skip and report every URL that fails.

    Args:
        urls: a list of URLs (see `read_urls` to read them from a file).
        dest: the folder to put them in (created if needed).
        timeout: seconds allowed per URL (to connect, and in all to read the body).
        max_bytes: a body larger than this is abandoned.
        max_images: stop after this many images saved (None: all).
    Returns:
        a DataFrame, one row per URL: `url`, `status` ('saved', 'already here' or
        'skipped'), `file` (the path, or None) and `reason` (why it was skipped).

    >>> report = download_images(read_urls('urls.txt'), data_root() / 'my_images/teddy')  # doctest: +SKIP
    >>> report[report.status == 'skipped']                                                # doctest: +SKIP

    Used in lesson 07.
    """
    rows, saved = [], 0
    for url in urls:
        if max_images is not None and saved >= max_images:
            break
        had = _already_here(url, dest) is not None
        try:
            file = download_image(url, dest, timeout, max_bytes)
            rows.append((url, 'already here' if had else 'saved', file, ''))
            saved += 1
        except SkipImage as e:
            rows.append((url, 'skipped', None, str(e)))
    report = pd.DataFrame(rows, columns=['url', 'status', 'file', 'reason'])
    counts = report.status.value_counts().to_dict()
    print(f'{len(report)} URLs: ' + ', '.join(f'{n} {s}' for s, n in counts.items()))
    return report
