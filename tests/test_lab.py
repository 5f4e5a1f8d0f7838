"""The README's main command really starts JupyterLab on the lessons, bound to 127.0.0.1 with a token."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def get(url, token=None):
    req = urllib.request.Request(url, headers={'Authorization': f'token {token}'} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


@pytest.fixture
def lab(tmp_path):
    if not (ROOT / '.venv' / 'bin' / 'jupyter').exists():
        pytest.skip('run through `make test`, which creates .venv first')
    port = free_port()
    log = open(tmp_path / 'lab.log', 'w+')
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(tmp_path / 'runtime')}
    proc = subprocess.Popen(['make', '-s', 'lab', f'PORT={port}'], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        for _ in range(120):
            log.seek(0)
            m = re.search(rf'http://127\.0\.0\.1:{port}/lab\?token=(\w+)', log.read())
            if m or proc.poll() is not None:
                break
            time.sleep(0.5)
        log.seek(0)
        assert m, f'JupyterLab printed no URL with a token:\n{log.read()[-3000:]}'
        yield port, m.group(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_lab_serves_the_lessons_with_a_token(lab):
    port, token = lab
    status, body = get(f'http://127.0.0.1:{port}/api/status', token)
    assert status == 200 and 'started' in body
    status, listing = get(f'http://127.0.0.1:{port}/api/contents/nbs', token)
    names = {item['name'] for item in listing['content']}
    assert '00_setup.ipynb' in names
    with pytest.raises(urllib.error.HTTPError) as e:            # no token, no access
        get(f'http://127.0.0.1:{port}/api/contents/nbs')
    assert e.value.code == 403
    ip = socket.gethostbyname(socket.gethostname())
    if not ip.startswith('127.'):                               # not reachable from other hosts
        with pytest.raises(OSError):
            socket.create_connection((ip, port), timeout=2).close()
