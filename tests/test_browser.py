"""End to end in a real browser: the README's `make lab`, the setup lesson opened in headless
Chromium (Debian's, driven by Playwright), its first code cell run, the banner read off the page."""
import os
import re
from pathlib import Path

import pytest
from conftest import running_lab

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')   # Debian's; .ci/run installs it
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']


@pytest.fixture
def lab(tmp_path):
    """JupyterLab started as the README says; yields its URL, token and log."""
    # Autosave off: the executed lesson must never be written back into nbs/.
    settings = tmp_path / 'settings' / '@jupyterlab' / 'docmanager-extension'
    settings.mkdir(parents=True)
    (settings / 'plugin.jupyterlab-settings').write_text('{"autosave": false}')
    env = {'COURSE_MODE': 'quick', 'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'workspaces'),
           'JUPYTERLAB_SETTINGS_DIR': str(tmp_path / 'settings')}
    with running_lab(tmp_path, env) as (port, token, log):
        yield f'http://127.0.0.1:{port}', token, log


def test_setup_lesson_runs_its_first_cell_in_chromium(lab, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get('CI'):
            pytest.fail(f'{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)')
        pytest.skip(f'{CHROMIUM} is not installed (bash .ci/run installs it: apt-get install chromium)')
    from playwright.sync_api import sync_playwright
    base, token, log = lab
    lesson = ROOT / 'nbs' / '00_setup.ipynb'
    stored = lesson.read_bytes()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.set_default_timeout(90_000)
            page.goto(f'{base}/lab/tree/nbs/00_setup.ipynb?token={token}')
            panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)').first
            panel.wait_for()
            # The kernel is ready when the status bar says so.
            page.locator('#jp-main-statusbar').filter(
                has_text=re.compile(r'Python \(coursehelpers\) \| Idle')).wait_for(timeout=120_000)
            code = panel.locator('.jp-CodeCell').first
            prompt = code.locator('.jp-InputArea-prompt')
            for attempt in range(3):                           # a key press lost while the page settles
                code.locator('.jp-InputArea-editor').click()
                page.keyboard.press('Escape')                  # command mode, this cell selected
                page.keyboard.press('Shift+Enter')             # run it, as the lesson says
                try:
                    page.wait_for_function("el => /\\[(\\*|\\d+)\\]/.test(el.innerText)",
                                           arg=prompt.element_handle(), timeout=30_000)
                    break
                except Exception:
                    if attempt == 2:
                        raise
            output = code.locator('.jp-OutputArea-output').first
            output.wait_for(timeout=180_000)
            page.wait_for_function(
                "el => /versions\\s+python/.test(el.innerText)", arg=output.element_handle(), timeout=180_000)
            text = output.inner_text()
        except Exception:
            page.screenshot(path=str(tmp_path / 'lab.png'))
            log.seek(0)
            print(f'screenshot: {tmp_path / "lab.png"}\nJupyterLab log:\n{log.read()[-4000:]}')
            raise
        finally:
            browser.close()
    assert re.search(r'^mode\s{6}quick', text, re.M), text
    assert re.search(r'^device\s+\w+', text, re.M) and 'coursehelpers' in text, text
    assert lesson.read_bytes() == stored                       # the stored lesson stays clean
