"""One way into Jupyter: `make lab` runs setup/jupyter.sh's checks (setup/lab_checks.sh) in the
foreground. A real JupyterLab is started each time, through the real Makefile recipe (its
setup step, which would install into the venv, is skipped with make -o)."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def make_lab(tmp_path, timeout=45, **env):
    """`make lab` with the venv running these tests; returns the finished process."""
    if not (VENV / 'bin' / 'jupyter').exists():
        pytest.skip(f'{VENV} has no jupyter')
    home = tmp_path / 'home'
    home.mkdir(exist_ok=True)
    full = {'PATH': os.environ['PATH'], 'HOME': str(home), 'JUPYTER_RUNTIME_DIR': str(tmp_path / 'rt'),
            'JUPYTER_CONFIG_DIR': str(home / '.jupyter'), **env}
    port = full.pop('PORT')
    host = [f"HOST={full.pop('HOST')}"] if 'HOST' in full else []
    proc = subprocess.Popen(['make', '-s', '-o', f'{VENV}/.installed', 'lab', f'VENV={VENV}',
                             f'PORT={port}', *host], cwd=ROOT, env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:                 # still serving: stop it and everything it started
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f'make lab was still running after {timeout} s:\n{err[-2000:]}')
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def nothing_listens(port):
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) != 0


def test_make_lab_stops_a_server_that_answers_without_a_token(tmp_path):
    config = tmp_path / 'home' / '.jupyter'
    config.mkdir(parents=True)
    (config / 'jupyter_server_config.py').write_text("c.IdentityProvider.token = ''\n")
    port = free_port()
    r = make_lab(tmp_path, PORT=str(port))
    assert r.returncode != 0
    assert 'JupyterLab answered without a token' in r.stderr and 'remove that line' in r.stderr
    assert nothing_listens(port)


@pytest.mark.parametrize('host', ['0.0.0.0', '127.0.0.1.nip.io', '10.1.2.3'])
def test_make_lab_refuses_a_non_loopback_host_without_a_password(tmp_path, host):
    port = free_port()
    r = make_lab(tmp_path, PORT=str(port), HOST=host, timeout=30)
    assert r.returncode != 0
    assert f'refusing to listen on {host} without a Jupyter password' in r.stderr
    assert nothing_listens(port)


def test_loopback_is_decided_by_address_not_by_prefix():
    script = ('source setup/common.sh; source setup/lab_checks.sh; PY=' + sys.executable + '; '
              'for h in "$@"; do if is_loopback "$h"; then echo "$h yes"; else echo "$h no"; fi; done')
    hosts = ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '127.0.0.1.nip.io', '127.evil', '0.0.0.0', '::']
    out = subprocess.run(['bash', '-c', script, 'x', *hosts], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split('\n')
    assert out[:-1] == [f'{h} {"yes" if i < 4 else "no"}' for i, h in enumerate(hosts)]


def test_make_lab_prints_a_url_with_its_token_and_refuses_requests_without_it(tmp_path):
    import re
    import signal
    import time
    import urllib.error

    from conftest import api_get
    if not (VENV / 'bin' / 'jupyter').exists():
        pytest.skip(f'{VENV} has no jupyter')
    port = free_port()
    (tmp_path / 'home').mkdir()
    env = {'PATH': os.environ['PATH'], 'HOME': str(tmp_path / 'home'),
           'JUPYTER_RUNTIME_DIR': str(tmp_path / 'rt')}
    log = open(tmp_path / 'lab.log', 'w+')
    proc = subprocess.Popen(['make', '-s', '-o', f'{VENV}/.installed', 'lab', f'VENV={VENV}',
                             f'PORT={port}'], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        m = None
        for _ in range(240):
            log.seek(0)
            m = re.search(rf'ready\. Open: http://127\.0\.0\.1:{port}/lab\?token=(\w+)', log.read())
            if m or proc.poll() is not None:
                break
            time.sleep(0.25)
        log.seek(0)
        assert m, log.read()[-3000:]
        assert api_get(f'http://127.0.0.1:{port}/api/status', m.group(1))[0] == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            api_get(f'http://127.0.0.1:{port}/api/contents/nbs')
        assert e.value.code == 403
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    for _ in range(40):
        if nothing_listens(port):
            break
        time.sleep(0.25)
    assert nothing_listens(port)
