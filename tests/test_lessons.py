"""The lesson runner: executes notebooks headless, collects recorded numbers, reports failures."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip('nbformat', reason='the runner tests need Jupyter (nbformat, '
                               "nbclient): install the course with pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[1]


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_runner_collects_numbers_and_reports_failures(tmp_path, data_root, monkeypatch):
    good = notebook(tmp_path / '91_good.ipynb',
                    'from coursehelpers import record, banner\nbanner()',
                    "x = sum(range(10))\nrecord('total', x, seconds=1.5)")
    bad = notebook(tmp_path / '92_bad.ipynb', "raise ValueError('this lesson is broken')")
    out = tmp_path / 'runs'
    proc = subprocess.run([sys.executable, '-m', 'coursehelpers', 'lessons', 'run', str(good), str(bad),
                           '--out', str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '92_bad' in proc.stderr
    results = json.loads((out / 'results.json').read_text())
    total = next(r for r in results if r['metric'] == 'total')
    assert total['lesson'] == '91_good' and total['value'] == 45.0 and total['seconds'] == 1.5
    assert total['mode'] == 'quick' and total['peak_mb'] > 10
    rows = {r['lesson']: r for r in results if r['metric'] == 'notebook_seconds'}
    assert rows['91_good']['status'] == 'ok' and rows['91_good']['peak_mb'] > 10
    assert rows['92_bad']['status'] == 'failed' and 'this lesson is broken' in rows['92_bad']['error']
    assert (out / '91_good.ipynb').exists() and (out / '92_bad.ipynb').exists()
    assert 'total' in proc.stdout and 'FAILED' in proc.stdout        # the closing table
    table = (out / 'results.md').read_text()
    assert '| 91_good | total | 45 | 1.5 |' in table
    cell = nbformat.read(out / '91_good.ipynb', as_version=4).cells[1]   # ends with record(...)
    assert [o['output_type'] for o in cell.outputs] == ['stream']       # one line, no Out[]
    assert cell.outputs[0]['text'].startswith('recorded total = 45 (lesson 91_good, 1.5 s of')


def test_record_prints_one_line_and_names_no_lesson_outside_the_runner(tmp_path, monkeypatch,
                                                                        capsys):
    from coursehelpers import record
    for name in ('COURSE_LESSON', 'COURSE_RESULTS', 'JPY_SESSION_NAME'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert record('accuracy', 0.95123, seconds=12.34) is None
    out = capsys.readouterr().out
    assert out.startswith('recorded accuracy = 0.9512 (12.3 s of training, peak memory ')
    assert out.count('\n') == 1 and 'interactive' not in out and 'lesson' not in out
    assert list(tmp_path.iterdir()) == []                      # nothing stored outside the runner
    monkeypatch.setenv('JPY_SESSION_NAME', str(tmp_path / 'nbs' / '01_dogs_cats.ipynb'))
    record('accuracy', 0.95)                                   # JupyterLab names the notebook
    assert capsys.readouterr().out.startswith('recorded accuracy = 0.95 (lesson 01_dogs_cats, ')


def test_record_stores_the_same_fields_for_the_runner(tmp_path, monkeypatch, capsys):
    from coursehelpers import record
    monkeypatch.setenv('COURSE_LESSON', '07_production')
    monkeypatch.setenv('COURSE_RESULTS', str(tmp_path / 'records.jsonl'))
    monkeypatch.setenv('JPY_SESSION_NAME', 'elsewhere.ipynb')  # the runner's name wins
    record('accuracy', 0.9, seconds=3.456, note='x')
    assert 'lesson 07_production, 3.5 s of training' in capsys.readouterr().out
    rec = json.loads((tmp_path / 'records.jsonl').read_text())
    assert set(rec) == {'lesson', 'mode', 'metric', 'value', 'seconds', 'peak_mb', 'data',
                        'standin', 'note'}
    assert rec['lesson'] == '07_production' and rec['value'] == 0.9 and rec['seconds'] == 3.46


def test_lessons_are_found_by_number(monkeypatch):
    monkeypatch.chdir(ROOT / 'nbs')
    from coursehelpers.runner.lessons import find_lessons
    assert [p.name for p in find_lessons(['00'])] == ['00_setup.ipynb']


def test_in_process_runner_needs_no_kernel(tmp_path, data_root):
    (tmp_path / 'nbs').mkdir()
    good = notebook(tmp_path / 'nbs' / '93_plain.ipynb',
                    "import os\nfrom coursehelpers import record",
                    "!echo shell lines are skipped\nx = len(os.listdir('.'))",
                    "?record",
                    "record('files_here', x, seconds=0.5)")
    bad = notebook(tmp_path / 'nbs' / '94_bad.ipynb', "1 / 0")
    out = tmp_path / 'runs'
    proc = subprocess.run([sys.executable, '-m', 'coursehelpers', 'lessons', 'run', '--in-process',
                           str(good), str(bad), '--out', str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    results = json.loads((out / 'results.json').read_text())
    files = next(r for r in results if r['metric'] == 'files_here')
    assert files['value'] == 2.0 and files['lesson'] == '93_plain'       # ran in the notebook's folder
    rows = {r['lesson']: r for r in results if r['metric'] == 'notebook_seconds'}
    assert rows['93_plain']['status'] == 'ok' and rows['93_plain']['peak_mb'] > 10
    assert rows['94_bad']['status'] == 'failed' and 'ZeroDivisionError' in rows['94_bad']['error']
    assert '__SKIPPED__=2' in (out / '93_plain.log').read_text()
