"""The Learner under `torchrun` with DistributedDataParallel: real processes, gloo on the CPU.

Each test launches `tests/distributed_worker.py` with `python -m torch.distributed.run`
(the module behind `torchrun`) or plain `python`, one thread per process, under a process
timeout so that a hang fails the test instead of blocking CI. The worker's rank 0 prints
one `RESULT {json}` line (see its docstring).
"""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / 'tests' / 'distributed_worker.py'
MIRROR = ROOT.parent / 'shared' / 'data'
TIMEOUT = 150

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason='this torch has no torch.distributed')


def env(tmp_path):
    e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1', COURSE_MODE='quick',
             COURSE_DATA=str(tmp_path / 'data'), COURSE_DATA_MIRROR=str(MIRROR))
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT',
              'COURSE_RESULTS', 'COURSE_MAX_BATCHES', 'COURSE_MAX_EPOCHS'):
        e.pop(k, None)
    return e


def torchrun(*args):
    return [sys.executable, '-m', 'torch.distributed.run', *args]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(cmd, tmp_path, timeout=TIMEOUT, cwd=ROOT, **more_env):
    """Run `cmd`; return (exit code, output, seconds)."""
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env={**env(tmp_path), **more_env}, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - start


def result(output):
    lines = [line for line in output.splitlines() if line.startswith('RESULT ')]
    assert len(lines) == 1, f'expected one RESULT line (from rank 0 only):\n{output[-4000:]}'
    return json.loads(lines[0][len('RESULT '):])


def run_worker(cmd_prefix, task, out, tmp_path, bs=None):
    rc, output, _ = launch([*cmd_prefix, str(WORKER), task, str(out)] +
                           ([str(bs)] if bs else []), tmp_path)
    assert rc == 0, output[-4000:]
    return result(output)


@pytest.fixture(scope='module')
def two_procs(tmp_path_factory):
    """The MLP trained by 2 processes on one machine (shared by several tests)."""
    tmp = tmp_path_factory.mktemp('two_procs')
    return tmp, run_worker(torchrun('--nproc_per_node=2'), 'mlp', tmp / 'out', tmp)


def test_two_processes_identical_weights_and_exact_validation(two_procs):
    _, r = two_procs
    assert r['world_size'] == 2
    assert r['hashes'][0] == r['hashes'][1]                  # bitwise identical on both ranks
    assert r['single']['n_valid'] == 101                     # odd: does not split in 2
    assert r['reported']['accuracy'] == pytest.approx(r['single']['accuracy'], abs=1e-7)
    assert r['reported']['valid_loss'] == pytest.approx(r['single']['valid_loss'], rel=1e-6)


def test_only_rank_zero_writes(two_procs):
    tmp, r = two_procs
    rank0, rank1 = r['writes']
    assert rank1 == []                                       # seen by an audit hook on rank 1
    models = tmp / 'out' / 'models'
    assert {str(models / 'epoch0.pth'), str(models / 'final.pth')} <= set(rank0)
    assert sorted(p.name for p in models.iterdir()) == ['epoch0.pth', 'final.pth']
    lines = (tmp / 'out' / 'results.jsonl').read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])['metric'] == 'accuracy'


def test_two_machines_match_two_processes_on_one(two_procs, tmp_path):
    _, one_machine = two_procs
    port = free_port()
    procs = []
    for node in (0, 1):
        cmd = torchrun('--nnodes=2', '--nproc_per_node=1', '--rdzv-backend=c10d',
                       f'--rdzv-endpoint=127.0.0.1:{port}', '--rdzv-id=course-test',
                       f'--rdzv-conf=is_host={"true" if node == 0 else "false"}',
                       str(WORKER), 'mlp', str(tmp_path / f'out{node}'))
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env(tmp_path), text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    try:
        outputs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], '\n'.join(outputs)[-4000:]
    r = result('\n'.join(outputs))
    assert r['world_size'] == 2
    assert r['hashes'] == one_machine['hashes']


def test_world_size_one_under_torchrun_equals_plain_python(tmp_path):
    plain = run_worker([sys.executable], 'mlp', tmp_path / 'plain', tmp_path)
    launched = run_worker(torchrun('--nproc_per_node=1'), 'mlp', tmp_path / 'torchrun', tmp_path)
    assert plain['world_size'] == 1 and launched['world_size'] == 1
    assert launched['hashes'] == plain['hashes']
    assert launched['reported'] == plain['reported']


def test_movielens_two_processes_within_two_percent_of_one(tmp_path):
    """Lesson 05's model, global batch 2048 (1 x 2048 against 2 x 1024), same seed and epochs."""
    one = run_worker([sys.executable], 'collab', tmp_path / 'one', tmp_path, bs=2048)
    two = run_worker(torchrun('--nproc_per_node=2'), 'collab', tmp_path / 'two', tmp_path,
                     bs=2048)
    assert two['hashes'][0] == two['hashes'][1]
    assert two['single']['n_valid'] % 2 == 1
    assert two['reported']['mse'] == pytest.approx(two['single']['mse'], rel=1e-6)
    loss1, loss2 = one['reported']['valid_loss'], two['reported']['valid_loss']
    assert abs(loss2 - loss1) / loss1 < 0.02, (loss1, loss2)


def test_a_failing_rank_stops_every_rank(tmp_path):
    out = tmp_path / 'out'
    rc, output, seconds = launch(torchrun('--nproc_per_node=2', str(WORKER), 'fail', str(out),
                                          '8'), tmp_path, timeout=90)
    assert rc != 0
    assert seconds < 60, f'took {seconds:.0f} s to stop'
    assert 'rank 1 fails on purpose in the middle of epoch 1' in output
    assert 'RESULT' not in output
    models = out / 'models'
    names = sorted(p.name for p in models.iterdir())
    assert names and all(n.endswith('.pth') and not n.startswith('.') for n in names), names
    for p in models.iterdir():                               # every checkpoint is whole
        assert torch.load(p, weights_only=True)['format'].startswith('coursehelpers')


@pytest.mark.parametrize('script, args', [('train_collab.py', ['--epochs', '2', '--bs', '1024']),
                                          ('train_imdb_lm.py', ['--epochs', '1', '--bs', '8'])])
def test_lesson_scripts_under_torchrun(tmp_path, script, args):
    """Lessons 05 and 04 as scripts, 2 processes, quick mode on the CPU with the sample data:
    one `final:` line (from rank 0), and the language model's encoder saved once, whole.
    The language model trains and validates on 20 batches (`COURSE_MAX_BATCHES`)."""
    cap = {'COURSE_MAX_BATCHES': '20'} if script == 'train_imdb_lm.py' else {}
    rc, output, _ = launch(torchrun('--nproc_per_node=2', str(ROOT / 'scripts' / script),
                                    '--data', str(tmp_path / 'data'), *args), tmp_path,
                           cwd=tmp_path, **cap)          # checkpoints go to its models/
    assert rc == 0, output[-4000:]
    finals = [line for line in output.splitlines() if line.startswith('final: ')]
    assert len(finals) == 1 and 'world_size=2' in finals[0], output[-4000:]
    assert 'global_batch=' + str(2 * int(args[-1])) in finals[0]
    if script == 'train_imdb_lm.py':
        assert sorted(p.name for p in (tmp_path / 'models').iterdir()) == [
            'imdb_encoder.json', 'imdb_encoder.pth']
        assert torch.load(tmp_path / 'models' / 'imdb_encoder.pth', weights_only=True)


# ---- the pieces, in this process ----

def test_shard_sampler_neither_pads_nor_drops():
    from coursehelpers.training.distributed import ShardSampler
    shares = [list(ShardSampler(7, rank=r, world=2)) for r in range(2)]
    assert shares == [[0, 2, 4, 6], [1, 3, 5]]


def test_bptt_shards_are_the_rows_of_one_wider_loader():
    from coursehelpers.training.loaders import BPTTLoader
    stream = torch.arange(1000)
    wide = list(BPTTLoader(stream, bs=6, bptt=7))
    shards = [list(BPTTLoader(stream, bs=3, bptt=7).shard(r, 2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(wide)
    for (x, y), (x0, y0), (x1, y1) in zip(wide, *shards):
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(y, torch.cat([y0, y1]))


def test_lr_find_says_it_runs_on_one_process(monkeypatch):
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from coursehelpers import DataLoaders, Learner
    ds = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
    learn = Learner(nn.Linear(2, 1), DataLoaders(DataLoader(ds, 4), DataLoader(ds, 4)),
                    nn.MSELoss(), progress=False)
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '2')
    with pytest.raises(RuntimeError, match='lr_find runs on one process.*plain `python`'):
        learn.lr_find()


def test_sync_batchnorm_refuses_a_batchnorm_that_does_more():
    from torch import nn
    from coursehelpers.training.distributed import convert_batchnorm

    class BatchNormAct(nn.BatchNorm2d):            # like timm's: normalise, then activate
        def forward(self, x):
            return torch.relu(super().forward(x))

    plain = convert_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    assert isinstance(plain[1], nn.SyncBatchNorm)
    with pytest.raises(ValueError, match="BatchNormAct.*timm.layers.convert_sync_batchnorm"):
        convert_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 3), BatchNormAct(4)))
