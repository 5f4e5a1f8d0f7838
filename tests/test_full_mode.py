"""Full mode, rehearsed: every lesson's full-mode cells run on stand-ins, every loop capped.

The full data sets cannot be downloaded here and there is no GPU, so this is what CI can
check of full mode: stand-ins of the full sets (`data standin all`, at scale 0.04) in a
scratch data root, then every lesson through the lesson runner in fresh Jupyter kernels
(every cell executed, `?name` included) with `--mode full --max-batches 1 --max-epochs 1`
and random CNN weights (`COURSE_PRETRAINED=0`: resnet34's ImageNet weights are a download).
One epoch of each fit: a batch of lesson 04's full-size classifier takes about a minute on
two CPU cores, and its fits have 17 epochs. The metrics
mean nothing; what is checked is that every full-mode cell runs and says it is a rehearsal.
"""
import json
import os
import subprocess
import sys

import pytest

from coursehelpers.datasets.standins import STANDIN_MAKERS
from coursehelpers.env.paths import standins_in
from coursehelpers.runner.lessons import find_lessons

pytest.importorskip('nbclient', reason='the rehearsal runs every lesson in Jupyter kernels: '
                    "install the course with pip install -e '.[dev]'")

SCALE = 0.04


@pytest.fixture(scope='module')
def rehearsal(tmp_path_factory, shared_data):
    """Stand-ins in a scratch data root, then every lesson in full mode: the results."""
    root, out = tmp_path_factory.mktemp('data'), tmp_path_factory.mktemp('runs')
    env = {**os.environ, 'COURSE_DATA': str(root), 'COURSE_DATA_MIRROR': str(shared_data),
           'COURSE_PRETRAINED': '0'}
    env.pop('COURSE_MODE', None)
    subprocess.run([sys.executable, '-m', 'coursehelpers', 'data', 'standin', 'all',
                    '--scale', str(SCALE)], env=env, check=True, capture_output=True, text=True)
    proc = subprocess.run([sys.executable, '-m', 'coursehelpers', 'lessons', 'run', '--mode',
                           'full', '--max-batches', '1', '--max-epochs', '1', '--timeout', '900',
                           '--out', str(out)],
                          env=env, capture_output=True, text=True, timeout=3600)
    results = json.loads((out / 'results.json').read_text())
    return root, proc, results


def test_stand_ins_are_made_for_every_full_data_set_and_marked(rehearsal):
    root, _, _ = rehearsal
    made = standins_in(root)
    assert set(made) == set(STANDIN_MAKERS)
    assert {info['scale'] for info in made.values()} == {SCALE}


def test_every_lesson_runs_its_full_mode_cells_without_a_failure(rehearsal):
    _, proc, results = rehearsal
    walls = {r['lesson']: r for r in results if r['metric'] == 'notebook_seconds'}
    assert set(walls) == {p.stem for p in find_lessons()}
    failed = {name: r.get('error', '')[-800:] for name, r in walls.items() if r['status'] != 'ok'}
    assert not failed, f'{failed}\n{proc.stdout[-3000:]}'
    assert all(r['mode'] == 'full' for r in results)


def test_every_number_recorded_on_stand_ins_is_flagged(rehearsal):
    _, proc, results = rehearsal
    recorded = [r for r in results if r['metric'] != 'notebook_seconds']
    on_standins = [r for r in recorded if any(d.get('standin') for d in r['data'].values())]
    assert {r['lesson'] for r in on_standins} >= {'01_dogs_cats', '02_planet', '03_rossmann',
                                                  '04_imdb', '07_production'}
    assert all(r['standin'] for r in on_standins)
    assert not any(r['standin'] for r in recorded if r['lesson'] in ('05_movielens',
                                                                     '06_nietzsche'))
