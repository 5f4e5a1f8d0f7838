"""Notebook hygiene (../shared/ENGINEERING.md): clean, portable, every lesson starts with the banner."""
import ast
import json
import re
from pathlib import Path

import pytest

from coursehelpers.runner.inprocess import cell_sources

NBS = Path(__file__).resolve().parents[1] / 'nbs'
LESSONS = sorted(NBS.glob('[0-9][0-9]_*.ipynb'))
ABSOLUTE = re.compile(r'''["'](/(home|root|mnt|Users|tmp|work|storage|notebooks|datasets)/|[A-Za-z]:\\\\)''')
TAGS = {'nbval-ignore-output', 'nbval-check-output'}
CUDA_CALL = '.cuda' + '('          # spelled apart so this file does not match its own check


def code_cells(path):
    nb = json.loads(path.read_text())
    return [c for c in nb['cells'] if c['cell_type'] == 'code']


def test_the_setup_lesson_exists():
    assert (NBS / '00_setup.ipynb') in LESSONS


@pytest.mark.parametrize('path', LESSONS, ids=lambda p: p.stem)
def test_outputs_only_where_checked(path):
    for i, cell in enumerate(code_cells(path)):
        tags = set(cell.get('metadata', {}).get('tags', []))
        assert tags & TAGS, f'{path.name} code cell {i} needs nbval-ignore-output or nbval-check-output'
        if 'nbval-check-output' in tags:
            assert cell['outputs'] and cell.get('execution_count'), \
                f'{path.name} code cell {i} is checked but stores no output or execution count'
        else:
            assert not cell['outputs'], f'{path.name} code cell {i} stores outputs: clear them'
            assert cell.get('execution_count') is None, f'{path.name} code cell {i} stores an execution count'


@pytest.mark.parametrize('path', LESSONS, ids=lambda p: p.stem)
def test_portable_cells(path):
    for i, cell in enumerate(code_cells(path)):
        src = ''.join(cell['source'])
        assert CUDA_CALL not in src, f'{path.name} cell {i}: move tensors with .to(device), not with their cuda method'
        assert not ABSOLUTE.search(src), f'{path.name} cell {i} has an absolute path'
        assert 'paperspace' not in src.lower(), f'{path.name} cell {i} names a provider path'


@pytest.mark.parametrize('path', LESSONS, ids=lambda p: p.stem)
def test_first_code_cell_prints_the_banner(path):
    first = ''.join(code_cells(path)[0]['source'])
    assert re.search(r'^banner\(', first, re.M), f'{path.name}: the first code cell must call banner()'


@pytest.mark.parametrize('path', LESSONS, ids=lambda p: p.stem)
def test_kernel_is_the_course_kernel(path):
    spec = json.loads(path.read_text())['metadata']['kernelspec']
    assert spec['name'] == 'coursehelpers'


def helper_import_lines(path):
    """Lines of import statements from coursehelpers in a lesson's code (strings not counted)."""
    lines = 0
    for src in cell_sources(path)[0]:                  # IPython-only lines (?name, !cmd) blanked
        for node in ast.walk(ast.parse(src)):
            names = ([node.module or ''] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n == 'coursehelpers' or n.startswith('coursehelpers.') for n in names):
                lines += node.end_lineno - node.lineno + 1
    return lines


@pytest.mark.parametrize('path', LESSONS, ids=lambda p: p.stem)
def test_a_lesson_imports_its_helpers_in_at_most_three_lines(path):
    assert 1 <= helper_import_lines(path) <= 3
