"""Stand-ins are made into the full variant's folder, checked against the registry's layout,
marked, and never mistaken for real data; rehearsal weights and the weights fetch."""
import json
import os
import subprocess
import sys

import pytest
import torch

from coursehelpers import banner, get_data, list_data, record
from coursehelpers.datasets.download import DataError
from coursehelpers.datasets.registry import DATASETS, data_used, missing_paths
from coursehelpers.datasets.standins import STANDIN_MAKERS, make_standin, standin_names
from coursehelpers.env.paths import STANDIN_MARKER
from coursehelpers.vision.models import WeightsError, fetch_weights, imagenet_model


@pytest.fixture
def full_root(data_root, shared_data, monkeypatch):
    """A scratch data root in full mode, with the samples' mirror."""
    monkeypatch.setenv('COURSE_DATA_MIRROR', str(shared_data))
    monkeypatch.setenv('COURSE_MODE', 'full')
    return data_root


@pytest.mark.parametrize('name', list(STANDIN_MAKERS))
def test_a_stand_in_has_the_full_layout_and_a_marker(full_root, name):
    folder = make_standin(name, scale=0.002, workers=0)
    assert folder == full_root / DATASETS[name]['full'].folder
    assert missing_paths(folder, DATASETS[name]['full'].layout) == []   # get_data's own check
    marker = json.loads((folder / STANDIN_MARKER).read_text())
    assert marker['name'] == name and marker['scale'] == 0.002 and marker['files'] > 0


def test_get_data_list_data_banner_and_record_say_it_is_a_stand_in(full_root, capsys, tmp_path,
                                                                   monkeypatch):
    make_standin('rossmann', scale=0.002)
    capsys.readouterr()
    path = get_data('rossmann')
    out = capsys.readouterr().out
    assert path == full_root / 'full' / 'rossmann' and 'STAND-IN DATA' in out
    assert data_used()['rossmann']['standin'] is True
    row = next(r for r in list_data() if r['name'] == 'rossmann' and r['variant'].startswith('full'))
    assert row['standin'] and 'STAND-IN' in row['variant']
    banner()
    assert 'stand-in data: the metrics mean nothing' in capsys.readouterr().out
    monkeypatch.setenv('COURSE_RESULTS', str(tmp_path / 'records.jsonl'))
    record('exp_rmspe', 0.5)
    assert 'the metrics mean nothing' in capsys.readouterr().out
    assert json.loads((tmp_path / 'records.jsonl').read_text())['standin'] is True


def test_the_banner_says_nothing_of_stand_ins_in_quick_mode(full_root, monkeypatch, capsys):
    make_standin('rossmann', scale=0.002)
    monkeypatch.setenv('COURSE_MODE', 'quick')
    capsys.readouterr()
    banner()
    assert 'STAND-IN' not in capsys.readouterr().out


def test_real_data_is_never_replaced_by_a_stand_in(full_root):
    with pytest.raises(DataError, match='needs no stand-in'):
        make_standin('nietzsche')
    folder = full_root / 'full' / 'rossmann'
    folder.mkdir(parents=True)
    for rel in DATASETS['rossmann']['full'].layout:
        (folder / rel).write_text('real,data\n')
    with pytest.raises(DataError, match='holds the real full rossmann'):
        make_standin('rossmann', scale=0.002)
    assert (folder / 'train.csv').read_text() == 'real,data\n'
    assert not (folder / STANDIN_MARKER).exists()
    assert data_used().get('rossmann', {}).get('standin') is not True


def test_bad_names_and_scales_are_refused(full_root):
    assert standin_names(['all']) == list(STANDIN_MAKERS)
    with pytest.raises(DataError, match="No data set called 'pets'"):
        standin_names(['pets'])
    for scale in (0, 1.5, -1):
        with pytest.raises(DataError, match='more than 0'):
            make_standin('imdb', scale=scale)


def test_the_command_line_makes_one(full_root):
    env_root = str(full_root)
    proc = subprocess.run([sys.executable, '-m', 'coursehelpers', 'data', 'standin', 'imdb',
                           '--scale', '0.001', '--workers', '0'], capture_output=True, text=True,
                          env={**os.environ, 'COURSE_DATA': env_root})
    assert proc.returncode == 0, proc.stderr
    assert 'stand-in data: the metrics mean nothing' in proc.stdout
    bad = subprocess.run([sys.executable, '-m', 'coursehelpers', 'data', 'standin', 'pets'],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "No data set called 'pets'" in bad.stderr


def test_rehearsal_weights_are_random_and_the_banner_says_so(monkeypatch, capsys):
    pretrained = imagenet_model('efficientnet_lite0').state_dict()
    monkeypatch.setenv('COURSE_PRETRAINED', '0')
    random = imagenet_model('efficientnet_lite0').state_dict()
    assert not torch.equal(pretrained['conv_stem.weight'], random['conv_stem.weight'])
    banner()
    assert 'weights   random (COURSE_PRETRAINED=0' in capsys.readouterr().out
    monkeypatch.setenv('COURSE_PRETRAINED', 'maybe')
    with pytest.raises(ValueError, match='set it to 0'):
        imagenet_model('efficientnet_lite0')


def test_fetching_weights_offline_says_what_to_do(tmp_path, monkeypatch):
    """A real failed download: the proxy is a closed port on 127.0.0.1."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    monkeypatch.setenv('https_proxy', 'http://127.0.0.1:9')
    monkeypatch.setenv('HTTPS_PROXY', 'http://127.0.0.1:9')
    with pytest.raises(WeightsError, match='COURSE_PRETRAINED=0') as e:
        fetch_weights(['resnet18'])
    assert 'the download failed' in str(e.value) and 'weights fetch' in str(e.value)
    assert not any(tmp_path.rglob('*.pth'))
