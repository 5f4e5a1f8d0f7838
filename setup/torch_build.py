"""Install the torch build that fits this machine, before the rest of the course.

    python setup/torch_build.py          # `make setup` runs it with the venv's python

A machine with an NVIDIA driver gets the CUDA build (PyPI's default on Linux). A machine without
one gets the CPU build from PyTorch's CPU wheel index: a few hundred MB instead of several GB of
CUDA libraries it could never use. TORCH_BUILD=cpu or TORCH_BUILD=cuda overrides the choice
(TORCH_BUILD=auto, the default, decides as above). When the CPU index cannot be reached, the
default build is left to `pip install -e .` and a message says so. When the wanted build is
already installed, nothing happens.

Standard library only: it runs before anything else is installed. The version ranges of torch
and torchvision are read from pyproject.toml, the single list of dependencies.
"""
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHOICES = ('auto', 'cpu', 'cuda')
CPU_INDEX = 'https://download.pytorch.org/whl/cpu'
PYPI = 'https://pypi.org/simple'
DRIVER_FILE = Path('/proc/driver/nvidia/version')
FORCE = 'TORCH_BUILD=cpu make -B setup   (or TORCH_BUILD=cuda)'
AGAIN = 'make -B setup'


def torch_requirements(pyproject=ROOT / 'pyproject.toml'):
    """The requirement strings of torch and torchvision in pyproject.toml's dependencies.

    >>> torch_requirements()
    ['torch>=2.3,<2.15', 'torchvision>=0.18,<0.30']
    """
    text = Path(pyproject).read_text()
    deps = re.search(r'^dependencies\s*=\s*\[(.*?)^\]', text, re.S | re.M)
    if deps is None:
        raise SystemExit(f'{pyproject} has no dependencies = [...] list; the torch ranges are read from it.')
    found = {}
    for req in re.findall(r'"([^"]+)"', deps.group(1)):
        name = re.match(r'[A-Za-z0-9_.-]+', req).group(0).lower()
        if name in ('torch', 'torchvision'):
            found[name] = req.replace(' ', '')
    missing = {'torch', 'torchvision'} - set(found)
    if missing:
        raise SystemExit(f'{pyproject} lists no {" or ".join(sorted(missing))} in its dependencies.')
    return [found['torch'], found['torchvision']]


def find_nvidia_driver(driver_file=DRIVER_FILE, smi='nvidia-smi'):
    """Where an NVIDIA driver was found (a short text), or None when there is none."""
    if Path(driver_file).exists():
        return f'{driver_file} exists'
    path = shutil.which(smi)
    if path is None:
        return None
    try:
        ok = subprocess.run([path, '-L'], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return f'{smi} runs' if ok else None


def choose_build(setting, driver, platform=sys.platform):
    """('cpu' or 'cuda', why) for TORCH_BUILD=`setting` on a machine where `driver` says where
    an NVIDIA driver was found (None: none). An unknown setting raises ValueError."""
    setting = (setting or 'auto').strip().lower()
    if setting not in CHOICES:
        raise ValueError(f'TORCH_BUILD={setting!r} is not one of {", ".join(CHOICES)}. '
                         'Leave it unset (auto: CUDA with an NVIDIA driver, else CPU), '
                         'or set TORCH_BUILD=cpu or TORCH_BUILD=cuda.')
    if setting == 'cuda' and platform == 'darwin':
        raise ValueError('TORCH_BUILD=cuda: PyTorch publishes no CUDA build for macOS; '
                         'leave TORCH_BUILD unset (the default build uses the Mac\'s GPU through MPS).')
    if setting != 'auto':
        return setting, f'TORCH_BUILD={setting}'
    if driver:
        return 'cuda', f'NVIDIA driver found: {driver}; TORCH_BUILD=cpu to override'
    if not platform.startswith('linux'):
        return 'cpu', f'no NVIDIA driver on {platform}, where the default build has no CUDA libraries'
    return 'cpu', 'no NVIDIA driver found; TORCH_BUILD=cuda to override'


def index_reachable(url=CPU_INDEX, timeout=4):
    """(True, '') when the wheel index at `url` answers for torch, else (False, what went wrong)."""
    page = url.rstrip('/') + '/torch/'
    try:
        with urllib.request.urlopen(page, timeout=timeout) as r:
            body = r.read(1 << 20).decode('utf-8', 'replace')
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, f'{page}: {getattr(e, "reason", e)}'
    if 'torch-' not in body:
        return False, f'{page} answered but lists no torch wheel'
    return True, ''


def installed_build(folder=None):
    """('cpu' | 'cuda' | 'rocm', version) of the torch in `folder` (default: the one this Python
    imports), or (None, None) when there is none. Reads torch/version.py without importing torch."""
    if folder is None:
        import importlib.util
        spec = importlib.util.find_spec('torch')
        folder = Path(spec.origin).parent if spec and spec.origin else None
    if folder is None or not (Path(folder) / 'version.py').exists():
        return None, None
    text = (Path(folder) / 'version.py').read_text()
    value = dict(re.findall(r"^(\w+)\s*(?::[^=]*)?=\s*'?([^'\n]*?)'?\s*$", text, re.M))
    if value.get('hip', 'None') != 'None':
        return 'rocm', value.get('__version__')
    return ('cuda' if value.get('cuda', 'None') != 'None' else 'cpu'), value.get('__version__')


def pip_commands(build, reqs, python=sys.executable, installed=None,
                 index=CPU_INDEX, extra_index=None):
    """The pip commands that put `build` in place of the `installed` build (None: no torch yet).

    A build is switched by uninstalling torch and torchvision first: pip counts 2.14.1+cpu and
    2.14.1 as the same release and would keep the wrong one."""
    cmds = []
    if installed is not None:
        cmds.append([python, '-m', 'pip', 'uninstall', '--yes', 'torch', 'torchvision'])
    install = [python, '-m', 'pip', 'install', *reqs]
    if build == 'cpu':
        extra = extra_index or os.environ.get('PIP_INDEX_URL') or PYPI
        install += ['--index-url', index, '--extra-index-url', extra]
    cmds.append(install)
    return cmds


def fallback_message(why, detail, have=None):
    """What a student reads when the CPU build was wanted but its index could not be reached."""
    kept = (f'The torch already installed ({have}, the default build) is kept' if have else
            'The default build from the package index is installed instead')
    return (f"torch: the CPU build was wanted ({why}), but PyTorch's CPU wheel index\n"
            f'    could not be reached ({detail}).\n'
            f'    {kept}: it runs on the CPU,\n'
            '    but brings the CUDA libraries, several GB on disk (README: "Install size").\n'
            f'    Once {CPU_INDEX} is reachable, `{AGAIN}` switches to the CPU build.\n'
            f'    To force a build: {FORCE}')


def main(env=os.environ, python=sys.executable, index=CPU_INDEX, run=subprocess.run, torch_folder=None):
    """Decide, say why in one line, install when needed. Returns the exit status.

    `index` is the CPU wheel index, `run` runs a pip command, `torch_folder` is the installed
    torch package (default: the one this Python imports)."""
    setting = env.get('TORCH_BUILD', 'auto')
    try:
        build, why = choose_build(setting, find_nvidia_driver())
    except ValueError as e:
        print(f'torch: {e}', file=sys.stderr)
        return 2
    have, version = installed_build(torch_folder)
    name = {'cpu': 'CPU', 'cuda': 'CUDA'}[build]
    if have == build:
        print(f'torch: {name} build ({why}); torch {version} is installed already')
        return 0
    if have == 'rocm' and setting == 'auto':
        print(f'torch: a ROCm build (torch {version}) is installed; kept (TORCH_BUILD=cpu or cuda replaces it)')
        return 0
    if build == 'cpu' and not sys.platform.startswith('linux') or build == 'cuda' and have is None:
        print(f'torch: {name} build ({why}); the default build, installed with the course')
        return 0
    if build == 'cpu':
        ok, detail = index_reachable(index)
        if not ok:
            print(fallback_message(why, detail, version))
            return 0
    print(f'torch: {name} build ({why}); installing it' + (f' in place of torch {version}' if have else ''))
    for cmd in pip_commands(build, torch_requirements(), python, have, index):
        if run(cmd).returncode != 0:
            print(f'torch: this command failed: {" ".join(cmd)}\n'
                  f'    Its output is above. Run it again, or choose the other build: {FORCE}',
                  file=sys.stderr)
            return 1
    if have == 'cuda':
        print('torch: the CUDA libraries of the old build (nvidia-*, triton) stay in the environment;\n'
              '    for the smallest install start afresh: rm -rf .venv && make setup')
    return 0


if __name__ == '__main__':
    sys.exit(main())
