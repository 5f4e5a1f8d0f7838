"""The README's main command really starts JupyterLab on the lessons, bound to 127.0.0.1 with a token."""
import socket
import urllib.error

import pytest
from conftest import api_get, running_lab



@pytest.fixture
def lab(tmp_path):
    with running_lab(tmp_path) as (port, token, _):
        yield port, token


def test_lab_serves_the_lessons_with_a_token(lab):
    port, token = lab
    status, body = api_get(f'http://127.0.0.1:{port}/api/status', token)
    assert status == 200 and 'started' in body
    status, listing = api_get(f'http://127.0.0.1:{port}/api/contents/nbs', token)
    names = {item['name'] for item in listing['content']}
    assert '00_setup.ipynb' in names
    with pytest.raises(urllib.error.HTTPError) as e:            # no token, no access
        api_get(f'http://127.0.0.1:{port}/api/contents/nbs')
    assert e.value.code == 403
    ip = socket.gethostbyname(socket.gethostname())
    if not ip.startswith('127.'):                               # not reachable from other hosts
        with pytest.raises(OSError):
            socket.create_connection((ip, port), timeout=2).close()
