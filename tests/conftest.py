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
    """Serves `files` (name -> bytes) with Range support; can cut transfers short."""

    def __init__(self):
        self.files, self.requests, self.cut_first = {}, [], 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip('/')
                server.requests.append((name, self.headers.get('Range')))
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                rng = self.headers.get('Range')
                if rng and rng.startswith('bytes='):
                    start = int(rng[6:].split('-')[0])
                    self.send_response(206)
                    self.send_header('Content-Range', f'bytes {start}-{len(body) - 1}/{len(body)}')
                else:
                    self.send_response(200)
                self.send_header('Content-Length', str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if server.cut_first > 0:             # promise everything, send half, hang up
                    server.cut_first -= 1
                    chunk = chunk[:len(chunk) // 2]
                    self.close_connection = True
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
