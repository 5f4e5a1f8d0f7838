"""The README's main command really starts JupyterLab on the lessons, bound to 127.0.0.1 with a token."""
import socket
import urllib.error
from pathlib import Path

import pytest
from conftest import api_get, lab_page_config, running_lab

ROOT = Path(__file__).resolve().parents[1]
NEWS = '@jupyterlab/apputils-extension:announcements'


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp('lab')) as (port, token, _):
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


def test_lab_starts_without_the_news_pop_up(lab):
    """`make setup` disabled JupyterLab's announcements plugin (the news pop-up) in .venv's page config."""
    port, token = lab
    config = lab_page_config(port, token)
    assert NEWS in config['disabledExtensions'], config['disabledExtensions']
    # ...and that is the plugin's real name in this JupyterLab (a renamed plugin would pop up again).
    static = ROOT / '.venv' / 'share' / 'jupyter' / 'lab' / 'static'
    assert any(f'"{NEWS}"' in js.read_text(errors='replace') for js in static.glob('*.js'))
