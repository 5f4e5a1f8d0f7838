"""A small training run for tests/test_distributed.py, started by `torchrun` or plain `python`.

    python tests/distributed_worker.py TASK OUT_DIR [GLOBAL_BS]

TASK is `mlp` (a two-group MLP with BatchNorm on synthetic data, trained frozen then
unfrozen with differential rates; validation set of odd size), `collab` (lesson 05's
MovieLens model) or `fail` (the MLP, with the last rank raising in the middle of its second
epoch while rank 0 saves a checkpoint after every epoch). Rank 0 prints one line
`RESULT {json}`: the state dict's hash on every rank, the last epoch's validation loss and
metric as `fit` reported them, the same numbers from one process evaluating the same
weights on the whole validation set, and the files each rank opened for writing or renamed
under OUT_DIR (seen by an audit hook).
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers.collab import CollabDataLoaders, collab_learner
from coursehelpers import DataLoaders, Learner, accuracy, get_data, record, seed_everything
from coursehelpers.env.distributed import is_main, rank, world_size

TASK, OUT = sys.argv[1], Path(sys.argv[2]).resolve()
GLOBAL_BS = int(sys.argv[3]) if len(sys.argv) > 3 else 32
WRITES = []


def audit(event, args):
    """Note every file under OUT opened for writing, or renamed, by this process."""
    if event == 'open' and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = args
        writing = (mode and any(c in str(mode) for c in 'wax+')) or (flags or 0) & (os.O_WRONLY |
                                                                                os.O_RDWR)
        if writing and str(OUT) in os.fsdecode(args[0]):
            WRITES.append(os.fsdecode(path))
    elif event == 'os.rename' and str(OUT) in os.fsdecode(args[0]):
        WRITES.append(os.fsdecode(args[1]))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU())
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.body(x))

    def layer_groups(self):
        return [self.body, self.head]


def mlp_learner():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(301, 8, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    bs = GLOBAL_BS // world_size()
    dls = DataLoaders(DataLoader(TensorDataset(x[:200], y[:200]), bs, shuffle=True),
                      DataLoader(TensorDataset(x[200:], y[200:]), 16))   # 101 items: odd
    return Learner(MLP(), dls, nn.CrossEntropyLoss(), metrics=[accuracy], path=OUT / 'models',
                   progress=False)


class SaveEveryEpoch:
    def after_epoch(self, learn):
        learn.save(f'epoch{learn.epoch}')


class FailMidEpoch:
    """The last rank raises in the middle of the second epoch of the first fit."""
    def __init__(self):
        self.batches = 0

    def after_batch(self, learn):
        self.batches += 1
        if rank() == world_size() - 1 and learn.epoch == 1 and self.batches > 10:
            raise RuntimeError(f'rank {rank()} fails on purpose in the middle of epoch 1')


def train_mlp(fail=False):
    learn = mlp_learner()
    cbs = [SaveEveryEpoch()] + ([FailMidEpoch()] if fail else [])
    learn.freeze()                                   # only the head trains (and is wrapped)
    learn.fit(1e-2, 3 if fail else 1, cbs=cbs)
    learn.unfreeze()                                 # a second fit: every group trains
    learn.fit([1e-3, 1e-2], 2, cycle_len=1)
    learn.save('final')
    return learn


def train_collab():
    ratings = pd.read_csv(get_data('ml-latest-small') / 'ratings.csv')
    dls = CollabDataLoaders.from_df(ratings, valid_pct=0.2, seed=42, bs=GLOBAL_BS // world_size())
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5), l2=0.1)
    learn.path, learn.progress = OUT / 'models', False
    learn.fit_one_cycle(4, 1e-2)
    return learn


def state_hash(model):
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main():
    sys.addaudithook(audit)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ['COURSE_RESULTS'] = str(OUT / 'results.jsonl')
    seed_everything(42)
    learn = train_collab() if TASK == 'collab' else train_mlp(fail=TASK == 'fail')
    last = learn.history.iloc[-1]
    metric = 'mse' if TASK == 'collab' else 'accuracy'
    record(metric, last[metric])
    loss, preds, targets = learn.validate()          # one process, the whole validation set
    single = {'valid_loss': loss, metric: float(learn.metrics[0](preds, targets)),
              'n_valid': len(targets)}
    mine = {'hash': state_hash(learn.model), 'writes': sorted(set(WRITES))}
    everyone = [mine]
    if dist.is_initialized():
        everyone = [None] * world_size()
        dist.all_gather_object(everyone, mine)
    if is_main():
        print('RESULT ' + json.dumps({
            'world_size': world_size(), 'hashes': [e['hash'] for e in everyone],
            'writes': [e['writes'] for e in everyone],
            'reported': {'valid_loss': float(last['valid_loss']), metric: float(last[metric])},
            'single': single}), flush=True)


if __name__ == '__main__':
    main()
