"""The project's own files agree with each other: environment.yml and pyproject.toml."""
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_environment_installs_exactly_this_package():
    env = yaml.safe_load((ROOT / 'environment.yml').read_text())
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    conda = [d for d in env['dependencies'] if isinstance(d, str)]
    pip = [d for d in env['dependencies'] if isinstance(d, dict)]
    assert sorted(re.split(r'[=<>]', d)[0] for d in conda) == ['pip', 'python'], \
        'environment.yml must list no package of its own: add dependencies to pyproject.toml'
    assert pip == [{'pip': ['-e .[dev]']}]
    python = next(d for d in conda if d.startswith('python'))
    minimum = project['requires-python'].lstrip('>=')
    assert tuple(map(int, python.split('=')[1].split('.'))) >= tuple(map(int, minimum.split('.')))
    assert 'dev' in project['optional-dependencies']


def test_installed_torch_and_torchvision_are_in_the_pinned_ranges():
    """The torch this suite runs on satisfies pyproject's range, and so does 2.14.1, the
    release the course is tested on (pip installs it from local disk on the CI machine)."""
    import torch
    import torchvision
    deps = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['dependencies']
    pinned = {r.name: r.specifier for r in map(Requirement, deps)}
    for name, module in (('torch', torch), ('torchvision', torchvision)):
        installed = module.__version__.split('+')[0]               # drop a local tag: +cu130
        assert pinned[name].contains(installed), f'{name} {installed} is outside {pinned[name]}'
    assert pinned['torch'].contains('2.14.1') and pinned['torchvision'].contains('0.29.1')


def test_data_folder_is_ignored_but_its_readme():
    ignore = (ROOT / '.gitignore').read_text().split()
    assert '/data/*' in ignore and '!/data/README.md' in ignore
    assert (ROOT / 'data' / 'README.md').exists()
