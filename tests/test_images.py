"""download_images against a real HTTP server on 127.0.0.1: good, HTML, slow, huge, broken."""
import http.server
import io
import threading
import time

import pytest
from PIL import Image

from coursehelpers.tools.web_images import download_images, read_urls


def jpeg_bytes(colour=(200, 30, 30)):
    buf = io.BytesIO()
    Image.new('RGB', (48, 32), colour).save(buf, format='JPEG')
    return buf.getvalue()


GOOD = jpeg_bytes()
ROUTES = {   # path -> (status, content type, body, delay before headers, seconds between chunks)
    '/good.jpg': (200, 'image/jpeg', GOOD, 0, 0),
    '/photo': (200, 'image/png', b'', 0, 0),                 # body filled in below
    '/page.html': (200, 'text/html; charset=utf-8', b'<html><body>cats</body></html>', 0, 0),
    '/fake.jpg': (200, 'image/jpeg', b'<html>an error page sent as a jpeg</html>', 0, 0),
    '/cut.jpg': (200, 'image/jpeg', GOOD[:len(GOOD) // 3], 0, 0),
    '/slow.jpg': (200, 'image/jpeg', GOOD, 3, 0),
    '/trickle.jpg': (200, 'image/jpeg', GOOD, 0, 1.0),      # each gap under the timeout
    '/huge.jpg': (200, 'image/jpeg', GOOD + b'\0' * 300_000, 0, 0),
}
buf = io.BytesIO()
Image.new('RGBA', (20, 20), (0, 0, 255, 128)).save(buf, format='PNG')
ROUTES['/photo'] = (200, 'image/png', buf.getvalue(), 0, 0)


class Handler(http.server.BaseHTTPRequestHandler):
    hits = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.hits.append(self.path)
        path = self.path.split('?')[0]
        if path not in ROUTES:
            self.send_error(404)
            return
        status, kind, body, delay, gap = ROUTES[path]
        time.sleep(delay)
        self.send_response(status)
        self.send_header('Content-Type', kind)
        if path != '/huge.jpg':                  # the huge one does not announce its size
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        try:
            for i in range(0, len(body), 200 if gap else len(body) or 1):
                self.wfile.write(body[i:i + (200 if gap else len(body))])
                self.wfile.flush()
                time.sleep(gap)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope='module')
def site():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def test_only_real_images_are_kept_and_every_other_url_says_why(site, tmp_path):
    names = ['good.jpg', 'photo', 'page.html', 'fake.jpg', 'cut.jpg', 'slow.jpg',
             'trickle.jpg', 'huge.jpg', 'missing.jpg']
    urls = [f'{site}/{n}' for n in names] + ['ftp://example.org/x.jpg']
    report = download_images(urls, tmp_path / 'imgs', timeout=1.5, max_bytes=100_000)
    why = dict(zip(report.url.str.rsplit('/', n=1).str[-1], report.reason))
    status = dict(zip(report.url.str.rsplit('/', n=1).str[-1], report.status))
    assert status['good.jpg'] == 'saved' and status['photo'] == 'saved'
    assert why['page.html'] == 'served text/html, not an image'
    assert 'does not decode as an image' in why['fake.jpg']
    assert 'does not decode as an image' in why['cut.jpg']
    assert why['slow.jpg'] == 'no answer within 1.5 s'
    assert why['trickle.jpg'] == 'took longer than 1.5 s'
    assert why['huge.jpg'] == 'more than 100,000 bytes, over the limit'
    assert why['missing.jpg'] == 'HTTP 404 Not Found'
    assert why['x.jpg'] == 'not an http(s) URL'
    files = sorted(p.name for p in (tmp_path / 'imgs').iterdir())
    assert len(files) == 2 and {f.rsplit('.', 1)[1] for f in files} == {'jpg', 'png'}
    saved = report.set_index(report.url.str.rsplit('/', n=1).str[-1]).file
    assert Image.open(saved['good.jpg']).size == (48, 32)


def test_an_announced_oversized_body_is_not_downloaded(site, tmp_path):
    ROUTES['/big.jpg'] = (200, 'image/jpeg', GOOD + b'\0' * 50_000, 0, 0)
    report = download_images([f'{site}/big.jpg'], tmp_path, max_bytes=10_000)
    assert report.reason[0] == f'{len(GOOD) + 50_000:,} bytes, over the limit of 10,000'
    assert not list(tmp_path.iterdir())


def test_a_second_run_fetches_nothing_again(site, tmp_path):
    url = f'{site}/good.jpg?again'
    first = download_images([url], tmp_path)
    Handler.hits.clear()
    second = download_images([url], tmp_path)
    assert first.status[0] == 'saved' and second.status[0] == 'already here'
    assert Handler.hits == [] and second.file[0] == first.file[0]


def test_max_images_stops_early(site, tmp_path):
    urls = [f'{site}/good.jpg?{i}' for i in range(5)]
    report = download_images(urls, tmp_path, max_images=2)
    assert list(report.status) == ['saved', 'saved'] and len(list(tmp_path.iterdir())) == 2


def test_read_urls_skips_blanks_and_comments(tmp_path):
    f = tmp_path / 'urls.txt'
    f.write_bytes(b'# my bears\nhttp://a/1.jpg\n\n  http://b/2.png  \n# done\n\xff\n')
    assert read_urls(f) == ['http://a/1.jpg', 'http://b/2.png', '\ufffd']


def test_headers_sent_a_byte_at_a_time_do_not_outlast_the_deadline(server, tmp_path):
    from coursehelpers.tools.web_images import SkipImage, download_image
    server.files['drip.jpg'] = GOOD
    server.content_type, server.header_delay = 'image/jpeg', 0.05      # ~150 bytes: 7 s of headers
    start = time.monotonic()
    with pytest.raises(SkipImage, match='took longer than 1 s'):
        download_image(f'{server.url}/drip.jpg', tmp_path, timeout=1)
    assert time.monotonic() - start < 2.5
    assert not list(tmp_path.iterdir())
