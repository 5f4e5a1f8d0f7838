"""The GPU's start-up policy and the stall measurement, checked on any machine.

`autotune` only flips `torch.backends.cudnn.benchmark`, a flag that exists without a GPU, so
its effect on a CUDA device is checked here for real; whether autotuning pays on a GPU is
measured by `benchmarks/gpu_run.sh`.
"""
import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers.env.device import autotune, autotune_policy
from coursehelpers.runner.stalls import stall_rows
from coursehelpers.training.learner import Learner
from coursehelpers.training.loaders import BPTTLoader, DataLoaders, fixed_batch_shapes


@pytest.fixture(autouse=True)
def keep_cudnn_flag():
    before = torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize('policy, fixed, expected', [
    ('off', True, False), ('off', False, False), ('', True, False),
    ('train', True, True), ('train', False, False),
    ('on', True, True), ('on', False, True)])
def test_autotune_follows_the_policy_on_cuda_and_restores_the_flag(monkeypatch, policy, fixed,
                                                                   expected):
    monkeypatch.setenv('COURSE_CUDNN_AUTOTUNE', policy)
    torch.backends.cudnn.benchmark = False
    with autotune(torch.device('cuda'), fixed_shapes=fixed):
        inside = torch.backends.cudnn.benchmark
    assert inside is expected
    assert torch.backends.cudnn.benchmark is False


def test_autotune_leaves_the_cpu_alone(monkeypatch):
    monkeypatch.setenv('COURSE_CUDNN_AUTOTUNE', 'on')
    torch.backends.cudnn.benchmark = False
    with autotune('cpu', fixed_shapes=True):
        assert torch.backends.cudnn.benchmark is False


def test_an_unknown_policy_says_what_to_set(monkeypatch):
    monkeypatch.setenv('COURSE_CUDNN_AUTOTUNE', 'always')
    with pytest.raises(ValueError, match="'train' or 'on'"):
        autotune_policy()


def test_fixed_batch_shapes():
    ds = TensorDataset(torch.zeros(10, 2))
    assert fixed_batch_shapes(DataLoader(ds, batch_size=4, drop_last=True))
    assert fixed_batch_shapes(DataLoader(ds, batch_size=5))           # divides evenly
    assert not fixed_batch_shapes(DataLoader(ds, batch_size=4))       # a last batch of 2
    assert not fixed_batch_shapes(BPTTLoader(torch.arange(100), bs=4, bptt=7))


def test_loop_log_times_every_step_and_the_stall_table_reads_it(tmp_path, monkeypatch):
    """A real fit and prediction, timed batch by batch; one artificially slow step is found."""
    log = tmp_path / 'loops.jsonl'
    monkeypatch.setenv('COURSE_LOOP_TIMES', str(log))
    monkeypatch.setenv('COURSE_LESSON', 'demo')
    x, y = torch.randn(96, 4), torch.randint(0, 2, (96,))
    dls = DataLoaders(DataLoader(TensorDataset(x, y), 16, shuffle=True, drop_last=True),
                      DataLoader(TensorDataset(x[:40], y[:40]), 16))
    learn = Learner(torch.nn.Linear(4, 2), dls, torch.nn.CrossEntropyLoss(), progress=False)
    learn.fit(1e-2, 2)
    learn.get_preds()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    train = [r for r in records if r['kind'] == 'train']
    assert [len(r['steps_s']) for r in train] == [6, 6]
    assert all(abs(sum(r['steps_s']) - r['all_s']) < 0.05 for r in records if 'steps_s' in r)
    rows = {r['loop']: r for r in stall_rows(records)}
    assert set(rows) == {'fit 1 train', 'fit 1 valid', 'predict'}
    assert rows['fit 1 train']['steps'] == 12 and rows['predict']['steps'] == 3
    slow = dict(train[1], steps_s=[0.01] * 5 + [1.0])                 # one step 100x the others
    (row,) = [r for r in stall_rows([slow, {'lesson': 'demo', 'kind': 'fit'}])]
    assert row['first_ok'] and not row['later_ok'] and row['worst_later_ratio'] == 100.0


def test_the_in_memory_budget_is_a_quarter_of_this_machines_ram():
    from coursehelpers.env.device import memory_budget_mb
    total_kb = int(next(line for line in open('/proc/meminfo')
                        if line.startswith('MemTotal')).split()[1])
    assert abs(memory_budget_mb('cpu') - max(total_kb / 1024 / 4, 1024)) < 64   # page rounding
    assert memory_budget_mb('cpu', share=0.0) == 1024
