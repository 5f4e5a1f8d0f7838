"""The package's layers, checked: imports go one way, down, and private names stay private.

The layer order is written once, in the package docstring (`coursehelpers/__init__.py`);
this test reads it from there, parses every module's imports with `ast` (nothing is
imported), and fails on:
- a module that imports from a higher layer, or from another application of its layer;
- a module that imports from the package face (`coursehelpers/__init__.py`);
- a module that imports another module's private name (one starting with `_`);
- an import of the package's own modules inside a function (the way a cycle is dodged);
- a module that no layer lists.
"""
import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / 'coursehelpers'
LAYER_LINE = re.compile(r'^(\d+)\. ([\w ]+):')


def read_layers(doc):
    """{top-level entry (subpackage or module name): (layer number, name)} from the docstring."""
    layers = {}
    for line in doc.splitlines():
        m = LAYER_LINE.match(line)
        if m:
            for entry in m.group(2).split():
                layers[entry] = int(m.group(1))
    return layers


LAYERS = read_layers(ast.get_docstring(ast.parse((PKG / '__init__.py').read_text())))


def module_name(path):
    """coursehelpers/vision/data.py -> 'coursehelpers.vision.data' (a package: its folder)."""
    parts = list(path.relative_to(PKG.parent).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def is_package(name):
    return (PKG.parent / name.replace('.', '/') / '__init__.py').exists()


def resolve(importer, node):
    """The absolute module an ImportFrom reads from, and whether `importer` is a package."""
    if node.level == 0:
        return node.module
    base = importer.split('.')
    if not is_package(importer):
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def entry(name):
    """The top-level entry of a module: 'coursehelpers.vision.data' -> 'vision'."""
    parts = name.split('.')
    return parts[1] if len(parts) > 1 else None


def targets(importer, node):
    """(module, name) pairs an import statement reads: the names it imports from a module, or
    the submodules it imports (`from . import data`)."""
    source = resolve(importer, node)
    for alias in node.names:
        sub = f'{source}.{alias.name}'
        if is_package(sub) or (PKG.parent / (sub.replace('.', '/') + '.py')).exists():
            yield sub, None
        else:
            yield source, alias.name


def violations(importer, source, layers=LAYERS):
    """Every broken rule in the module `importer` whose code is `source`, in words."""
    tree, found = ast.parse(source), []
    own = entry(importer)
    if own not in layers:
        return [f'{importer}: its folder or file {own!r} is in no layer of the package map']
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        for module, name in targets(importer, node):
            if not (module == 'coursehelpers' or module.startswith('coursehelpers.')):
                continue
            where = f'{importer} line {node.lineno}'
            if module == 'coursehelpers':
                found.append(f'{where}: imports {name} from the package face')
                continue
            other = entry(module)
            if layers[other] > layers[own]:
                found.append(f'{where}: {own} (layer {layers[own]}) imports {module} '
                             f'(layer {layers[other]}), a higher layer')
            elif layers[other] == layers[own] and other != own and layers[own] == APPS:
                found.append(f'{where}: the application {own} imports the application {other}')
            if name and name.startswith('_') and not name.startswith('__') and module != importer:
                found.append(f'{where}: imports the private name {name} of {module}')
            if id(node) not in top_level:
                found.append(f'{where}: imports {module} inside a function (import at the top; '
                             'a cycle means a module is in the wrong layer)')
    return found


APPS = LAYERS['vision']
MODULES = sorted(p for p in PKG.rglob('*.py') if '__pycache__' not in p.parts)


def test_the_map_names_every_layer_in_order():
    assert [LAYERS[e] for e in ('env', 'datasets', 'training', 'vision', 'tools', 'runner')] \
        == [1, 2, 3, 4, 5, 6]
    assert LAYERS['text'] == LAYERS['tabular'] == LAYERS['collab'] == APPS
    on_disk = {p.name if p.is_dir() else p.stem for p in PKG.iterdir()
               if p.name != '__pycache__' and (p.is_dir() or p.suffix == '.py')} - {'__init__'}
    assert on_disk == set(LAYERS), f'map and folder differ: {on_disk ^ set(LAYERS)}'


@pytest.mark.parametrize('path', [p for p in MODULES if p != PKG / '__init__.py'],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_imports_go_down_and_stay_public(path):
    assert violations(module_name(path), path.read_text()) == []


def test_the_checker_catches_each_kind_of_violation():
    up = 'from ..vision.data import ImageDataset\n'
    assert 'a higher layer' in violations('coursehelpers.training.learner', up)[0]
    assert 'imports the application' in violations('coursehelpers.text.data', up)[0]
    face = 'from .. import Learner\n'
    assert 'package face' in violations('coursehelpers.vision.learner', face)[0]
    private = 'from .files import _listing\n'
    assert 'private name' in violations('coursehelpers.vision.data', private)[0]
    late = 'def f():\n    from ..env.paths import data_root\n'
    assert 'inside a function' in violations('coursehelpers.tabular.features', late)[0]
    assert 'in no layer' in violations('coursehelpers.extra', 'import os\n')[0]
    fine = ('import os\nfrom . import training_log\nfrom ..env.device import autocast\n'
            'from .callbacks import run_event\n')
    assert violations('coursehelpers.training.learner', fine) == []


def test_the_package_stays_small_enough_to_read():
    top = [p for p in PKG.glob('*.py')]
    assert len(top) < 15, [p.name for p in top]
    long = {str(p.relative_to(PKG)): n for p in MODULES
            if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}
