"""The scripts in setup/ run end to end: the GPU machine set-up, the course update, Jupyter in tmux.

What cannot exist here is replaced by stand-ins placed first on PATH in a temporary HOME:
`nvidia-smi`, the Miniforge installer (served over HTTPS by a real server on 127.0.0.1 with
a certificate made for the test) and the `conda` it installs. The conda environment's
`python` is the course's real .venv python, except for the two things a CPU machine
cannot do: see a GPU and download the full data sets.
"""
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
from pathlib import Path

import pytest
from conftest import api_get, free_port, lab_page_config

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / '.venv' / 'bin' / 'python'
SCRIPTS = sorted((ROOT / 'setup').glob('*.sh')) + [ROOT / '.ci' / 'run']


def need(tool):
    """The path of a tool the tests drive; CI must have it (.ci/run installs it), elsewhere skip."""
    path = shutil.which(tool, path=f"{VENV_PY.parent}:{os.environ.get('PATH', '')}")
    if path is None:
        if os.environ.get('CI'):
            pytest.fail(f'{tool} is missing: .ci/run installs it (apt-get install {tool})')
        pytest.skip(f'{tool} is not installed here (bash .ci/run installs it)')
    return path


def clean_env(home, **extra):
    """The environment of a fresh machine: a temporary HOME, no conda, no course settings."""
    drop = ('JUPYTER', 'CONDA', 'COURSE_', 'VIRTUAL_ENV', 'PYTHON', 'XDG_', 'MINIFORGE', 'GIT_', 'TMUX')
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), PATH='/usr/bin:/bin', **{k: str(v) for k, v in extra.items()})
    return env


def run(cmd, env, cwd=ROOT, timeout=300):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- stand-ins

NVIDIA_SMI = """#!/bin/sh
echo "nvidia-smi $*" >>"$STANDIN_LOG"
case "$*" in
  *--query-gpu*) echo "NVIDIA H100 80GB HBM3 (stand-in), 550.54.15, 81559 MiB" ;;
  *) echo "stand-in nvidia-smi" ;;
esac
"""

# The environment's python: the real course python, except for seeing a GPU and the
# full data downloads, which a CPU machine without internet cannot do.
ENV_PYTHON = """#!/bin/bash
echo "python $*" >>"$STANDIN_LOG"
if [ "$1" = -c ] && [[ "$2" == *torch.cuda.is_available* ]]; then
  echo "torch (stand-in), built for CUDA 12.8, GPU visible: True (stand-in GPU)"; exit 0
fi
if [ "$1 $2 $3 $4" = "-m coursehelpers data fetch" ]; then
  mkdir -p "$COURSE_DATA/$5" && echo "stand-in: fetched $5 $6 into $COURSE_DATA"; exit 0
fi
exec "$STANDIN_REAL_PYTHON" "$@"
"""

CONDA = """#!/bin/bash
echo "conda $*" >>"$STANDIN_LOG"
base=$(cd "$(dirname "$0")/.." && pwd)
case "$1 ${2:-}" in
  "--version "*) echo "conda 26.3.2 (stand-in)" ;;
  "info --base") echo "$base" ;;
  "init bash") ;;
  "env create"|"env update")
    while [ $# -gt 0 ]; do case $1 in -n) name=$2 ;; -f) file=$2 ;; esac; shift; done
    grep -q -- '-e .\\[dev\\]' "$file" || { echo "stand-in conda: $file lacks the pip line" >&2; exit 1; }
    mkdir -p "$base/envs/$name/bin"
    cp "$base/env-python" "$base/envs/$name/bin/python" && chmod +x "$base/envs/$name/bin/python" ;;
  *) echo "stand-in conda: unexpected: $*" >&2; exit 2 ;;
esac
"""


def installer_script():
    """A stand-in Miniforge installer: `bash it -b [-u] -p PREFIX` installs the stand-in conda."""
    return ('#!/bin/bash\necho "installer $*" >>"$STANDIN_LOG"\n'
            'while [ $# -gt 0 ]; do [ "$1" = -p ] && prefix=$2; shift; done\n'
            'mkdir -p "$prefix/bin"\n'
            f"cat >\"$prefix/bin/conda\" <<'EOF'\n{CONDA}EOF\n"
            f"cat >\"$prefix/env-python\" <<'EOF'\n{ENV_PYTHON}EOF\n"
            'chmod +x "$prefix/bin/conda"\n')


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def https_server(tmp_path_factory):
    """A real HTTPS server on 127.0.0.1 serving the stand-in installer; yields (base URL, cert, served dir)."""
    need('openssl')
    d = tmp_path_factory.mktemp('https')
    cert, key = d / 'cert.pem', d / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1'], check=True, capture_output=True)
    served = d / 'www'
    served.mkdir()
    (served / 'Miniforge3-test-Linux.sh').write_text(installer_script())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), lambda *a: Handler(*a, directory=str(served)))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'https://127.0.0.1:{server.server_port}', cert, served
    server.shutdown()


@pytest.fixture
def machine(tmp_path, https_server):
    """A fresh GPU machine: temporary HOME, stand-in nvidia-smi first on PATH, a copy of the course."""
    need('curl')
    base, cert, served = https_server
    home, fakebin, course = tmp_path / 'home', tmp_path / 'bin', tmp_path / 'course'
    for d in (home, fakebin, tmp_path / 'tmp'):
        d.mkdir()
    (fakebin / 'nvidia-smi').write_text(NVIDIA_SMI)
    (fakebin / 'nvidia-smi').chmod(0o755)
    (course / 'setup').mkdir(parents=True)
    (course / 'coursehelpers').symlink_to(ROOT / 'coursehelpers')
    for f in ['environment.yml', 'pyproject.toml', 'setup/common.sh', 'setup/paperspace.sh',
              'setup/torch_build.py', 'setup/jupyter_setup.py']:
        shutil.copy(ROOT / f, course / f)
    installer = served / 'Miniforge3-test-Linux.sh'
    env = clean_env(home, STANDIN_LOG=tmp_path / 'standin.log', STANDIN_REAL_PYTHON=VENV_PY,
                    COURSE_DATA=tmp_path / 'storage' / 'data', CURL_CA_BUNDLE=cert, TMPDIR=tmp_path / 'tmp',
                    MINIFORGE_URL=f'{base}/{installer.name}',
                    MINIFORGE_SHA256=hashlib.sha256(installer.read_bytes()).hexdigest())
    env['PATH'] = f'{fakebin}:{env["PATH"]}'
    return dict(env=env, home=home, course=course, log=tmp_path / 'standin.log', data=tmp_path / 'storage' / 'data')


def setup_run(m):
    if not VENV_PY.exists():
        pytest.skip('run through `make test`, which creates .venv first')
    m['log'].touch()
    before = m['log'].read_text()
    r = run(['bash', str(m['course'] / 'setup' / 'paperspace.sh')], m['env'])
    return r, r.stdout + r.stderr, m['log'].read_text()[len(before):]


# ---------------------------------------------------------------- setup/paperspace.sh

def test_first_run_does_every_step_and_second_run_changes_nothing(machine):
    m = machine
    r, out, calls = setup_run(m)
    assert r.returncode == 0, out
    for n, title in enumerate(['NVIDIA driver', 'conda (Miniforge)', "conda environment 'coursehelpers'",
                               'Jupyter kernel', 'data sets (full)', 'torch sees the GPU', 'how to start Jupyter'], 1):
        assert re.search(rf'==> \[{n}/7\] {re.escape(title)}.*\n(.*\n)*?    \[{n}/7\] .* took \d+ s', out), title
    assert 'NVIDIA H100 80GB HBM3 (stand-in), 550.54.15' in out
    assert 'checksum verified' in out and 'installer -b -p' in calls            # downloaded, verified, run
    conda = m['home'] / 'miniforge3' / 'bin' / 'conda'
    assert conda.exists() and 'conda init bash' in calls
    assert 'conda env create -n coursehelpers -f environment.yml' in calls
    assert 'torch: CUDA build (NVIDIA driver found: nvidia-smi runs' in out     # the GPU's build, kept
    env_prefix = m['home'] / 'miniforge3' / 'envs' / 'coursehelpers'
    kernel = json.loads((env_prefix / 'share/jupyter/kernels/coursehelpers/kernel.json').read_text())
    assert kernel['display_name'] == 'Python (coursehelpers)'
    assert kernel['env'] == {'COURSE_DATA': str(m['data'])}                    # lessons find the data root
    assert not (m['home'] / '.local/share/jupyter/kernels').exists()           # inside the env, not per user
    assert 'jupyter_setup.py --prefix' in calls
    page = json.loads((env_prefix / 'etc/jupyter/labconfig/page_config.json').read_text())
    assert page['disabledExtensions'] == {'@jupyterlab/apputils-extension:announcements': True}
    from coursehelpers.datasets.registry import DATASETS
    for name in DATASETS:
        assert f'-m coursehelpers data fetch {name} --full' in calls
        assert (m['data'] / name).is_dir()
    assert 'GPU visible: True' in out
    assert re.search(r'^mode\s+\w+', out, re.M) and str(m['data']) in out      # the real banner
    assert 'bash setup/jupyter.sh' in out and 'ssh -N -L 8888:127.0.0.1:8888' in out
    assert 'bills until you stop it' in out

    r, out, calls = setup_run(m)                                                # the same machine again
    assert r.returncode == 0, out
    assert 'Nothing to do: this machine was already set up; nothing was changed.' in out
    assert 'installer' not in calls and 'env create' not in calls and 'env update' not in calls
    assert 'ipykernel install' not in calls and 'data fetch' not in calls
    assert 'jupyter_setup.py --check' in calls and 'jupyter_setup.py --prefix' not in calls
    assert 'Jupyter is set up in this environment' in out
    assert 'already' in out and 'up to date' in out and 'GPU visible: True' in out

    with open(m['course'] / 'pyproject.toml', 'a') as f:                        # a course update changed the deps
        f.write('\n# a new dependency\n')
    r, out, calls = setup_run(m)
    assert r.returncode == 0, out
    assert 'conda env update -n coursehelpers -f environment.yml --prune' in calls
    assert 'env create' not in calls and 'installer' not in calls and 'data fetch' not in calls
    assert 'Nothing to do' not in out


def test_missing_driver_stops_with_instructions(machine):
    m = machine
    (Path(m['env']['PATH'].split(':')[0]) / 'nvidia-smi').unlink()
    r, out, calls = setup_run(m)
    assert r.returncode != 0
    assert 'STOPPED: no working NVIDIA driver (nvidia-smi was not found)' in out
    assert 'sudo ubuntu-drivers install' in out and 'sudo reboot' in out and 'run this script again' in out
    assert '[2/7]' not in out and calls == ''                                  # nothing else was touched
    assert not (m['home'] / 'miniforge3').exists()


def test_bad_installer_checksum_stops_before_running_it(machine):
    m = machine
    m['env']['MINIFORGE_SHA256'] = '0' * 64
    r, out, calls = setup_run(m)
    assert r.returncode != 0
    assert "the Miniforge installer's checksum is wrong, so it was deleted without running it" in out
    assert f'expected: sha256 {"0" * 64}' in out and re.search(r'got:\s+sha256 [0-9a-f]{64}', out)
    assert 'installer' not in calls and not (m['home'] / 'miniforge3').exists()
    assert list(Path(m['env']['TMPDIR']).iterdir()) == []                   # the download is gone
    assert '[3/7]' not in out


def test_installer_is_only_fetched_over_https(machine):
    m = machine
    m['env']['MINIFORGE_URL'] = m['env']['MINIFORGE_URL'].replace('https://', 'http://')
    r, out, calls = setup_run(m)
    assert r.returncode != 0
    assert 'could not download the Miniforge installer' in out and 'only https is allowed' in out
    assert 'installer' not in calls


def test_shellcheck_passes_on_every_script():
    shellcheck = need('shellcheck')
    assert {p.name for p in SCRIPTS} >= {'paperspace.sh', 'jupyter.sh', 'update.sh', 'common.sh', 'run'}
    r = subprocess.run([shellcheck, '--shell=bash', '-x', *map(str, SCRIPTS)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- setup/update.sh

def git(cwd, *args):
    env = {**os.environ, 'GIT_AUTHOR_NAME': 'course', 'GIT_AUTHOR_EMAIL': 'course@example.org',
           'GIT_COMMITTER_NAME': 'course', 'GIT_COMMITTER_EMAIL': 'course@example.org', 'GIT_CONFIG_GLOBAL': '/dev/null'}
    return subprocess.run(['git', *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def notebook(*sources):
    cells = [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [],
              'source': s} for i, s in enumerate(sources)]
    return json.dumps({'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}, indent=1) + '\n'


@pytest.fixture
def clones(tmp_path):
    """An upstream course repository and a student's clone of it."""
    need('git')
    up = tmp_path / 'upstream'
    (up / 'setup').mkdir(parents=True)
    (up / 'nbs').mkdir()
    for f in ['setup/common.sh', 'setup/update.sh', 'environment.yml', 'pyproject.toml']:
        shutil.copy(ROOT / f, up / f)
    (up / 'nbs' / '00_setup.ipynb').write_text(notebook('print("lesson 0")'))
    (up / 'nbs' / '01_dogs_cats.ipynb').write_text(notebook('size = 224'))
    git(up, 'init', '-q', '-b', 'main')
    git(up, 'add', '-A')
    git(up, 'commit', '-q', '-m', 'course v1')
    student = tmp_path / 'student'
    git(tmp_path, 'clone', '-q', str(up), str(student))
    home = tmp_path / 'home'
    home.mkdir()
    return up, student, clean_env(home)


def update(student, env):
    r = run(['bash', 'setup/update.sh'], env, cwd=student, timeout=120)
    return r, r.stdout + r.stderr


def test_update_keeps_the_students_work_and_brings_the_new_lesson(clones):
    up, student, env = clones
    lesson = student / 'nbs' / '00_setup.ipynb'
    lesson.write_text(notebook('print("lesson 0")', '# my own note: try lr=3e-3'))
    (student / 'nbs' / 'my_experiment.ipynb').write_text(notebook('x = 42'))
    (up / 'nbs' / '02_planet.ipynb').write_text(notebook('print("lesson 2")'))
    git(up, 'add', '-A')
    git(up, 'commit', '-q', '-m', 'course v2: lesson 2')

    r, out = update(student, env)
    assert r.returncode == 0, out
    assert 'my own note' in lesson.read_text()                              # the edit is still in place
    assert (student / 'nbs' / 'my_experiment.ipynb').exists()
    assert 'lesson 2' in (student / 'nbs' / '02_planet.ipynb').read_text()  # and the new lesson arrived
    saved = list((student / 'my-work').glob('*/nbs/00_setup.ipynb'))
    assert len(saved) == 1 and 'my own note' in saved[0].read_text()        # a copy aside, with a timestamp
    assert f'copied to {student}/my-work/' in out and 'branch my-work-' in out
    assert 'my-work-' in git(student, 'branch')
    assert 'My work, saved by setup/update.sh' in git(student, 'log', '--format=%s')
    assert git(student, 'status', '--porcelain') == ''
    head = git(student, 'rev-parse', 'HEAD')

    r, out = update(student, env)                                           # nothing changed since
    assert r.returncode == 0, out
    assert 'Nothing to do: no changes of yours to save and the course is up to date.' in out
    assert git(student, 'rev-parse', 'HEAD') == head
    assert len(list((student / 'my-work').iterdir())) == 1


def test_update_where_both_changed_a_lesson_keeps_both_versions(clones):
    up, student, env = clones
    (student / 'nbs' / '01_dogs_cats.ipynb').write_text(notebook('size = 128  # mine'))
    (up / 'nbs' / '01_dogs_cats.ipynb').write_text(notebook('size = 299  # the course'))
    git(up, 'commit', '-q', '-am', 'course v2: bigger images')

    r, out = update(student, env)
    assert r.returncode == 0, out
    assert 'the course' in (student / 'nbs' / '01_dogs_cats.ipynb').read_text()
    json.loads((student / 'nbs' / '01_dogs_cats.ipynb').read_text())        # a whole notebook, not a mix
    [mine] = (student / 'my-work').glob('*/nbs/01_dogs_cats.ipynb')
    assert '# mine' in mine.read_text()
    assert 'changed by both you and the course: nbs/01_dogs_cats.ipynb' in out
    assert git(student, 'status', '--porcelain') == ''


# ---------------------------------------------------------------- setup/jupyter.sh

def listening_addresses(port):
    """The local addresses of the LISTEN sockets on `port`, read from /proc/net/tcp and tcp6."""
    found = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(':')
            if state == '0A' and int(p, 16) == port:
                raw = bytes.fromhex(addr)
                if len(raw) == 4:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    found.append(socket.inet_ntop(socket.AF_INET6, b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
    return found


@pytest.fixture
def jupyter_env(tmp_path):
    need('tmux')
    need('curl')
    if not (ROOT / '.venv' / 'bin' / 'jupyter').exists():
        pytest.skip('run through `make test`, which creates .venv first')
    (tmp_path / 'home').mkdir()
    (tmp_path / 'tmux').mkdir()
    env = clean_env(tmp_path / 'home', TMUX_TMPDIR=tmp_path / 'tmux', PORT=free_port())
    yield env
    subprocess.run(['tmux', 'kill-server'], env=env, capture_output=True)


def test_jupyter_script_serves_on_127_0_0_1_with_a_token_inside_tmux(jupyter_env):
    env, port = jupyter_env, int(jupyter_env['PORT'])
    r = run(['bash', 'setup/jupyter.sh'], env, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    token = re.search(rf'http://127\.0\.0\.1:{port}/lab/tree/nbs\?token=(\w+)', out).group(1)
    assert len(token) >= 32
    assert f'ssh -N -L {port}:127.0.0.1:{port} ' in out and 'bills until you stop it' in out
    assert run(['tmux', 'has-session', '-t', 'course-jupyter'], env).returncode == 0

    status, body = api_get(f'http://127.0.0.1:{port}/api/status', token)
    assert status == 200 and 'started' in body
    with pytest.raises(urllib.error.HTTPError) as e:                       # no token, no access
        api_get(f'http://127.0.0.1:{port}/api/contents/nbs')
    assert e.value.code == 403
    assert listening_addresses(port) == ['127.0.0.1']                      # loopback only
    news = '@jupyterlab/apputils-extension:announcements'                  # no news pop-up
    assert news in lab_page_config(port, token, '/lab/tree/nbs')['disabledExtensions']

    again = run(['bash', 'setup/jupyter.sh'], env, timeout=60)             # running: says so, same token
    assert again.returncode == 0 and 'already running' in again.stdout and token in again.stdout

    stop = run(['bash', 'setup/jupyter.sh', 'stop'], env, timeout=60)
    assert stop.returncode == 0 and 'stopped JupyterLab' in stop.stdout
    assert run(['tmux', 'has-session', '-t', 'course-jupyter'], env).returncode != 0
    for _ in range(40):
        if not listening_addresses(port):
            break
        time.sleep(0.25)
    assert listening_addresses(port) == []


def test_jupyter_script_refuses_a_public_address_without_a_password(jupyter_env):
    env = {**jupyter_env, 'HOST': '0.0.0.0'}
    r = run(['bash', 'setup/jupyter.sh'], env, timeout=60)
    assert r.returncode != 0
    assert 'refusing to listen on 0.0.0.0 without a Jupyter password' in r.stderr
    assert run(['tmux', 'has-session', '-t', 'course-jupyter'], env).returncode != 0


def test_jupyter_script_with_a_password_may_listen_wider_but_keeps_the_token(jupyter_env):
    from jupyter_server.auth import passwd
    env, port = {**jupyter_env, 'HOST': '0.0.0.0'}, int(jupyter_env['PORT'])
    config = Path(env['HOME']) / '.jupyter'
    config.mkdir()
    (config / 'jupyter_server_config.json').write_text(
        json.dumps({'IdentityProvider': {'hashed_password': passwd('a long student password')}}))
    r = run(['bash', 'setup/jupyter.sh'], env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    token = re.search(r'\?token=(\w+)', r.stdout).group(1)
    assert api_get(f'http://127.0.0.1:{port}/api/status', token)[0] == 200
    with pytest.raises(urllib.error.HTTPError) as e:                       # still nothing without a token
        api_get(f'http://127.0.0.1:{port}/api/contents/nbs')
    assert e.value.code == 403
    assert listening_addresses(port) == ['0.0.0.0']
    assert run(['bash', 'setup/jupyter.sh', 'stop'], env).returncode == 0
