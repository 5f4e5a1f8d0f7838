"""setup/torch_build.py chooses the torch build: CUDA with an NVIDIA driver, else the CPU build
from PyTorch's CPU wheel index, falling back to the default build when that index is out of
reach. Index probes go to real HTTP servers (and a real closed port) on 127.0.0.1; pip itself is
never run here (the commands are checked instead): it would change the course's own torch."""
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'setup'))
import torch_build as tb  # noqa: E402

CUDA_VERSION_PY = """from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'rocm', 'xpu']
__version__ = '2.14.1+cu130'
debug = False
cuda: Optional[str] = '13.0'
git_version = '5c4886908584029761b579af026dcfb627c84070'
hip: Optional[str] = None
"""
CPU_VERSION_PY = CUDA_VERSION_PY.replace("'2.14.1+cu130'", "'2.13.0+cpu'").replace("'13.0'", 'None')
ROCM_VERSION_PY = (CUDA_VERSION_PY.replace("'2.14.1+cu130'", "'2.14.1+rocm7.0'").replace("'13.0'", 'None')
                   .replace("hip: Optional[str] = None", "hip: Optional[str] = '7.0.1'"))


def torch_folder(tmp_path, text):
    folder = tmp_path / 'site' / 'torch'
    folder.mkdir(parents=True)
    (folder / 'version.py').write_text(text)
    return folder


@pytest.fixture
def wheel_index():
    """A real wheel index on 127.0.0.1: /torch/ lists a CPU wheel, /empty/torch/ lists nothing."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            pages = {'/torch/': b'<html><body><a href="torch-2.14.1%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl">'
                                b'torch-2.14.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl</a></body></html>',
                     '/empty/torch/': b'<html><body>nothing here</body></html>'}
            if self.path not in pages:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header('Content-Type', 'text/html')
            self.send_header('Content-Length', str(len(pages[self.path])))
            self.end_headers()
            self.wfile.write(pages[self.path])

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_port}'
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    """The URL of a port on 127.0.0.1 that was just bound and released: nothing listens there."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}/whl/cpu'


# ---------------------------------------------------------------- what is wanted

def test_version_ranges_are_read_from_pyproject(tmp_path):
    tomllib = pytest.importorskip('tomllib')                    # Python 3.11+
    deps = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['dependencies']
    wanted = [d.replace(' ', '') for d in deps if d.split('>')[0].split('<')[0].split('=')[0] in ('torch', 'torchvision')]
    assert tb.torch_requirements() == wanted and len(wanted) == 2
    other = tmp_path / 'pyproject.toml'
    other.write_text('[project]\ndependencies = [\n    "torchvision >=0.20, <0.40",\n'
                     '    "torch>=2.5,<3",  # a comment\n    "timm>=1",\n]\n')
    assert tb.torch_requirements(other) == ['torch>=2.5,<3', 'torchvision>=0.20,<0.40']
    other.write_text('[project]\ndependencies = [\n    "timm>=1",\n]\n')
    with pytest.raises(SystemExit, match='lists no torch or torchvision in its dependencies'):
        tb.torch_requirements(other)


def write_smi(tmp_path, status):
    smi = tmp_path / 'nvidia-smi'
    smi.write_text(f'#!/bin/sh\necho "GPU 0: stand-in"\nexit {status}\n')
    smi.chmod(0o755)
    return str(smi)


def test_driver_is_found_by_its_proc_file_or_a_working_nvidia_smi(tmp_path):
    missing = tmp_path / 'no-such-file'
    assert tb.find_nvidia_driver(missing, smi=str(tmp_path / 'no-nvidia-smi')) is None
    proc = tmp_path / 'version'
    proc.write_text('NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15\n')
    assert tb.find_nvidia_driver(proc, smi=str(tmp_path / 'no-nvidia-smi')) == f'{proc} exists'
    assert tb.find_nvidia_driver(missing, smi=write_smi(tmp_path, 0)) == f'{tmp_path}/nvidia-smi runs'
    assert tb.find_nvidia_driver(missing, smi=write_smi(tmp_path, 9)) is None     # installed, no driver


def test_auto_chooses_cuda_with_a_driver_and_cpu_without():
    assert tb.choose_build('auto', '/proc/driver/nvidia/version exists', 'linux') == (
        'cuda', 'NVIDIA driver found: /proc/driver/nvidia/version exists; TORCH_BUILD=cpu to override')
    assert tb.choose_build('auto', None, 'linux') == (
        'cpu', 'no NVIDIA driver found; TORCH_BUILD=cuda to override')
    assert tb.choose_build(None, None, 'linux')[0] == 'cpu'                     # unset means auto
    build, why = tb.choose_build('auto', None, 'darwin')
    assert build == 'cpu' and 'default build has no CUDA libraries' in why


def test_overrides_win_over_the_driver():
    assert tb.choose_build('cpu', 'nvidia-smi runs', 'linux') == ('cpu', 'TORCH_BUILD=cpu')
    assert tb.choose_build(' CUDA ', None, 'linux') == ('cuda', 'TORCH_BUILD=cuda')


def test_an_unknown_setting_says_what_is_allowed(capsys):
    with pytest.raises(ValueError) as e:
        tb.choose_build('gpu', None, 'linux')
    assert str(e.value).startswith("TORCH_BUILD='gpu' is not one of auto, cpu, cuda.")
    assert 'set TORCH_BUILD=cpu or TORCH_BUILD=cuda' in str(e.value)
    with pytest.raises(ValueError, match='no CUDA build for macOS'):
        tb.choose_build('cuda', None, 'darwin')
    r = subprocess.run([sys.executable, str(ROOT / 'setup' / 'torch_build.py')], capture_output=True,
                       text=True, env={**os.environ, 'TORCH_BUILD': 'gpu'}, timeout=60)
    assert r.returncode == 2 and r.stdout == ''
    assert "torch: TORCH_BUILD='gpu' is not one of auto, cpu, cuda." in r.stderr


# ---------------------------------------------------------------- what is installed

def test_the_installed_build_is_read_from_torch_version_py(tmp_path):
    assert tb.installed_build(torch_folder(tmp_path / 'a', CUDA_VERSION_PY)) == ('cuda', '2.14.1+cu130')
    assert tb.installed_build(torch_folder(tmp_path / 'b', CPU_VERSION_PY)) == ('cpu', '2.13.0+cpu')
    assert tb.installed_build(torch_folder(tmp_path / 'c', ROCM_VERSION_PY)) == ('rocm', '2.14.1+rocm7.0')
    assert tb.installed_build(tmp_path / 'nothing') == (None, None)


def test_the_installed_build_matches_what_torch_itself_says():
    import torch
    build, version = tb.installed_build()
    assert version == torch.__version__
    assert build == ('cuda' if torch.version.cuda else 'rocm' if torch.version.hip else 'cpu')


# ---------------------------------------------------------------- the CPU index

def test_a_reachable_index_is_one_that_lists_torch(wheel_index):
    assert tb.index_reachable(wheel_index) == (True, '')
    ok, detail = tb.index_reachable(f'{wheel_index}/empty')
    assert not ok and detail == f'{wheel_index}/empty/torch/ answered but lists no torch wheel'
    ok, detail = tb.index_reachable(f'{wheel_index}/missing')
    assert not ok and 'Not Found' in detail


def test_an_unreachable_index_says_what_was_tried(closed_port_url):
    ok, detail = tb.index_reachable(closed_port_url, timeout=3)
    assert not ok
    assert detail.startswith(f'{closed_port_url}/torch/: ') and 'refused' in detail.lower()


def test_pip_commands_for_each_build(monkeypatch):
    monkeypatch.delenv('PIP_INDEX_URL', raising=False)
    reqs = ['torch>=2.3,<2.15', 'torchvision>=0.18,<0.30']
    assert tb.pip_commands('cpu', reqs, '/v/bin/python') == [
        ['/v/bin/python', '-m', 'pip', 'install', *reqs, '--index-url', 'https://download.pytorch.org/whl/cpu',
         '--extra-index-url', 'https://pypi.org/simple']]
    assert tb.pip_commands('cuda', reqs, '/v/bin/python', installed='cpu') == [
        ['/v/bin/python', '-m', 'pip', 'uninstall', '--yes', 'torch', 'torchvision'],
        ['/v/bin/python', '-m', 'pip', 'install', *reqs]]
    monkeypatch.setenv('PIP_INDEX_URL', 'https://mirror.example/simple')     # the student's own index
    assert tb.pip_commands('cpu', reqs, 'py')[0][-2:] == ['--extra-index-url', 'https://mirror.example/simple']


# ---------------------------------------------------------------- the whole decision

class Pip:
    """Stands in for running pip (the real one would replace this venv's torch): records commands."""

    def __init__(self, status=0):
        self.commands, self.status = [], status

    def __call__(self, cmd):
        self.commands.append(cmd)
        return subprocess.CompletedProcess(cmd, self.status)


def test_cpu_wanted_and_the_index_unreachable_keeps_the_default_build(tmp_path, closed_port_url, capsys):
    pip = Pip()
    code = tb.main({'TORCH_BUILD': 'cpu'}, 'py', closed_port_url, pip, torch_folder(tmp_path, CUDA_VERSION_PY))
    out = capsys.readouterr().out
    assert code == 0 and pip.commands == []
    assert out.startswith("torch: the CPU build was wanted (TORCH_BUILD=cpu), but PyTorch's CPU wheel index\n")
    assert f'could not be reached ({closed_port_url}/torch/: ' in out
    assert 'The torch already installed (2.14.1+cu130, the default build) is kept' in out
    assert 'several GB on disk' in out and 'TORCH_BUILD=cpu make -B setup' in out

    code = tb.main({'TORCH_BUILD': 'cpu'}, 'py', closed_port_url, pip, tmp_path / 'no-torch')
    out = capsys.readouterr().out
    assert code == 0 and pip.commands == []                     # `pip install -e .` brings the default
    assert 'The default build from the package index is installed instead' in out


def test_cpu_wanted_and_the_index_reachable_installs_the_cpu_build(tmp_path, wheel_index, capsys, monkeypatch):
    monkeypatch.delenv('PIP_INDEX_URL', raising=False)
    pip = Pip()
    assert tb.main({'TORCH_BUILD': 'cpu'}, 'py', wheel_index, pip, tmp_path / 'no-torch') == 0
    assert pip.commands == [['py', '-m', 'pip', 'install', *tb.torch_requirements(), '--index-url', wheel_index,
                             '--extra-index-url', 'https://pypi.org/simple']]
    assert capsys.readouterr().out == 'torch: CPU build (TORCH_BUILD=cpu); installing it\n'

    pip = Pip()                                                  # the CUDA build is there: replaced
    assert tb.main({'TORCH_BUILD': 'cpu'}, 'py', wheel_index, pip, torch_folder(tmp_path, CUDA_VERSION_PY)) == 0
    assert pip.commands[0] == ['py', '-m', 'pip', 'uninstall', '--yes', 'torch', 'torchvision']
    assert pip.commands[1][-4:] == ['--index-url', wheel_index, '--extra-index-url', 'https://pypi.org/simple']
    out = capsys.readouterr().out
    assert 'installing it in place of torch 2.14.1+cu130' in out and 'rm -rf .venv && make setup' in out


def test_the_wanted_build_already_installed_does_nothing(tmp_path, closed_port_url, capsys):
    pip = Pip()
    cpu, cuda = torch_folder(tmp_path / 'cpu', CPU_VERSION_PY), torch_folder(tmp_path / 'cuda', CUDA_VERSION_PY)
    assert tb.main({'TORCH_BUILD': 'cpu'}, 'py', closed_port_url, pip, cpu) == 0
    assert tb.main({'TORCH_BUILD': 'cuda'}, 'py', closed_port_url, pip, cuda) == 0
    assert tb.main({'TORCH_BUILD': 'cuda'}, 'py', closed_port_url, pip, tmp_path / 'none') == 0
    assert tb.main({}, 'py', closed_port_url, pip, torch_folder(tmp_path / 'rocm', ROCM_VERSION_PY)) == 0
    assert pip.commands == []
    assert capsys.readouterr().out.splitlines() == [
        'torch: CPU build (TORCH_BUILD=cpu); torch 2.13.0+cpu is installed already',
        'torch: CUDA build (TORCH_BUILD=cuda); torch 2.14.1+cu130 is installed already',
        'torch: CUDA build (TORCH_BUILD=cuda); the default build, installed with the course',
        'torch: a ROCm build (torch 2.14.1+rocm7.0) is installed; kept (TORCH_BUILD=cpu or cuda replaces it)']


def test_cuda_wanted_over_a_cpu_build_reinstalls_from_the_default_index(tmp_path, capsys):
    pip = Pip()
    assert tb.main({'TORCH_BUILD': 'cuda'}, 'py', 'http://unused', pip, torch_folder(tmp_path, CPU_VERSION_PY)) == 0
    assert pip.commands == [['py', '-m', 'pip', 'uninstall', '--yes', 'torch', 'torchvision'],
                            ['py', '-m', 'pip', 'install', *tb.torch_requirements()]]
    failing = Pip(status=1)
    assert tb.main({'TORCH_BUILD': 'cuda'}, 'py', 'http://unused', failing, torch_folder(tmp_path / 'b', CPU_VERSION_PY)) == 1
    err = capsys.readouterr().err
    assert 'torch: this command failed: py -m pip uninstall --yes torch torchvision' in err
    assert 'TORCH_BUILD=cpu make -B setup' in err and len(failing.commands) == 1
