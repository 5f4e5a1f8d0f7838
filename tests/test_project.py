"""The project's own files agree with each other: environment.yml and pyproject.toml."""
import re
import tomllib
from pathlib import Path

import yaml

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


def test_torch_range_admits_the_tested_release():
    deps = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['dependencies']
    torch_dep = next(d for d in deps if d.startswith('torch>'))
    assert '<2.15' in torch_dep and '>=2.' in torch_dep


def test_data_folder_is_ignored_but_its_readme():
    ignore = (ROOT / '.gitignore').read_text().split()
    assert '/data/*' in ignore and '!/data/README.md' in ignore
    assert (ROOT / 'data' / 'README.md').exists()
