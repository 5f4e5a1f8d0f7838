"""Shared fixtures: a real HTTP server on 127.0.0.1, a scratch data root, a running JupyterLab."""
import contextlib
import http.server
import os
import threading
from pathlib import Path

import pytest

# The real samples: the mirror the README's test command is given, else ../shared/data.
SHARED_DATA = (Path(os.environ['COURSE_DATA_MIRROR']).expanduser().resolve()
               if os.environ.get('COURSE_DATA_MIRROR')
               else Path(__file__).resolve().parents[1].parent / 'shared' / 'data')


class ArchiveServer:
    """Serves `files` (name -> bytes) like a real web server: an ETag and Last-Modified per
    file, Range and If-Range. It can misbehave on request:

    - `cut_first`: that many responses promise the whole body but send half and hang up;
    - `framing`: 'length' (Content-Length, the default), 'close' (no length: the body ends
      when the connection closes) or 'chunked' (a cut chunked body stops mid-chunk);
    - `header_delay`: seconds between each byte of the status line and headers;
    - `redirects`: name -> the Location a 302 for it sends.
    """

    def __init__(self):
        self.files, self.requests, self.cut_first = {}, [], 0
        self.framing, self.header_delay, self.content_type = 'length', 0, 'application/octet-stream'
        self.redirects = {}                           # name -> Location of a 302
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                import hashlib
                import time
                name = self.path.lstrip('/')
                server.requests.append((name, self.headers.get('Range')))
                if name in server.redirects:
                    self.send_response(302)
                    self.send_header('Location', server.redirects[name])
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                rng, if_range = self.headers.get('Range'), self.headers.get('If-Range')
                if rng and rng.startswith('bytes=') and (if_range is None or if_range == etag):
                    start = int(rng[6:].split('-')[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header('Content-Range', f'bytes */{len(body)}')
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    status = 206
                else:
                    status = 200
                head = [f'HTTP/1.1 {status} {"Partial Content" if status == 206 else "OK"}',
                        f'Content-Type: {server.content_type}', f'ETag: {etag}']
                if status == 206:
                    head.append(f'Content-Range: bytes {start}-{len(body) - 1}/{len(body)}')
                if server.framing == 'length':
                    head.append(f'Content-Length: {len(body) - start}')
                elif server.framing == 'chunked':
                    head.append('Transfer-Encoding: chunked')
                head.append('Connection: close')
                raw = ('\r\n'.join(head) + '\r\n\r\n').encode()
                if server.header_delay:
                    for i in range(len(raw)):
                        self.wfile.write(raw[i:i + 1])
                        self.wfile.flush()
                        time.sleep(server.header_delay)
                else:
                    self.wfile.write(raw)
                self.close_connection = True
                chunk = body[start:]
                cut = server.cut_first > 0
                if cut:                               # promise everything, send half, hang up
                    server.cut_first -= 1
                    chunk = chunk[:len(chunk) // 2]
                if server.framing == 'chunked':
                    data = f'{len(body) - start:x}\r\n'.encode() + chunk
                    self.wfile.write(data if cut else data + b'\r\n0\r\n\r\n')
                else:
                    self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ArchiveServer()
    yield s
    s.close()


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """An empty data root in quick mode, with no mirror and no URL override."""
    root = tmp_path / 'data'
    monkeypatch.setenv('COURSE_DATA', str(root))
    monkeypatch.setenv('COURSE_MODE', 'quick')
    monkeypatch.delenv('COURSE_DATA_MIRROR', raising=False)
    monkeypatch.delenv('COURSE_DATA_URL', raising=False)
    return root


@pytest.fixture
def one_thread():
    """Tiny models: one thread (two threads spin against each other on a busy 2-core box)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='session')
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f'the sample mirror {SHARED_DATA} is missing; these tests need the real '
                    'samples (set COURSE_DATA_MIRROR to a folder of them)')
    return SHARED_DATA


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(tmp_path, env_extra=None):
    """JupyterLab started as the README says (`make lab PORT=...`); yields (port, token, log)."""
    import os
    import re
    import signal
    import socket
    import subprocess
    import time
    root = Path(__file__).resolve().parents[1]
    if not (root / '.venv' / 'bin' / 'jupyter').exists():
        pytest.skip('run through `make test`, which creates .venv first')
    port = free_port()
    log = open(tmp_path / 'lab.log', 'w+')
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(tmp_path / 'runtime'), **(env_extra or {})}
    proc = subprocess.Popen(['make', '-s', 'lab', f'PORT={port}'], cwd=root, stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        m = None
        for _ in range(240):
            log.seek(0)
            m = re.search(rf'http://127\.0\.0\.1:{port}/lab\?token=(\w+)', log.read())
            if m or proc.poll() is not None:
                break
            time.sleep(0.5)
        log.seek(0)
        assert m, f'JupyterLab printed no URL with a token:\n{log.read()[-3000:]}'
        # Jupyter Server prints its URL before its event loop binds the port: wait for the bind.
        for _ in range(120):
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, f'JupyterLab exited after printing its URL:\n{log.read()[-3000:]}'
                time.sleep(0.5)
        yield port, m.group(1), log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def api_get(url, token=None):
    """GET a Jupyter API URL (with the token, if given); return (status, decoded JSON)."""
    import json
    import urllib.request
    req = urllib.request.Request(url, headers={'Authorization': f'token {token}'} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def make_folder(root, n=6, size=40):
    """`root/{train,valid}/{blue,red}/*.png`: noisy images, mostly blue or mostly red."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, count in (('train', n), ('valid', n // 2)):
        for c, name in enumerate(('blue', 'red')):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                px = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
                px[..., 2 if c == 0 else 0] += 160
                Image.fromarray(px).save(root / split / name / f'{name}{i}.png')
    return root


def lab_page_config(port, token, path='/lab'):
    """The page config a running JupyterLab serves on `path` (its jupyter-config-data JSON)."""
    import json
    import re
    import urllib.request
    req = urllib.request.Request(f'http://127.0.0.1:{port}{path}', headers={'Authorization': f'token {token}'})
    with urllib.request.urlopen(req, timeout=30) as r:
        html = r.read().decode()
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, f'no jupyter-config-data in the page JupyterLab served on {path}:\n{html[:2000]}'
    return json.loads(m.group(1))
