"""COURSE_MAX_BATCHES: every loop it names stops after that many batches (one test per loop);
COURSE_LOOP_TIMES: every loop is timed, and the projection's arithmetic."""
import json
import shutil

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers.env.modes import batches_to_run, max_batches
from coursehelpers.text.models import lm_perplexity
from coursehelpers.training.learner import Learner
from coursehelpers.training.loaders import BPTTLoader, DataLoaders
from coursehelpers.training.loop_timing import project_loop, project_loops
from coursehelpers.vision import ImageDataLoaders, model_stats
from coursehelpers.vision.learner import _MEMORY, cnn_learner, precomputed

BS = 4


class Counting:
    """A loader that counts the batches it hands out (and passes everything else through)."""

    def __init__(self, loader):
        self.loader, self.served = loader, 0
        self.dataset, self.batch_size = loader.dataset, loader.batch_size
        self.sampler = getattr(loader, 'sampler', None)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.served += 1
            yield batch


class Augmenting(DataLoaders):
    def augmented(self, ds):
        self.extra = Counting(DataLoader(self.loader(ds).dataset, BS))
        return self.extra


def tiny_learner(n_train=40, n_valid=24):
    torch.manual_seed(0)
    x, y = torch.randn(n_train + n_valid, 3), torch.randint(0, 2, (n_train + n_valid,))
    dls = Augmenting(Counting(DataLoader(TensorDataset(x[:n_train], y[:n_train]), BS, shuffle=True)),
                     Counting(DataLoader(TensorDataset(x[n_train:], y[n_train:]), BS)))
    return Learner(nn.Linear(3, 2), dls, nn.CrossEntropyLoss(), progress=False)


@pytest.fixture
def cap(monkeypatch):
    monkeypatch.setenv('COURSE_MAX_BATCHES', '3')
    return 3


def test_the_cap_is_read_from_the_environment_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv('COURSE_MAX_BATCHES', raising=False)
    assert max_batches() is None and batches_to_run(10) == 10
    monkeypatch.setenv('COURSE_MAX_BATCHES', '4')
    assert max_batches() == 4 and batches_to_run(10) == 4 and batches_to_run(2) == 2
    for bad in ('0', '-1', 'two', '1.5'):
        monkeypatch.setenv('COURSE_MAX_BATCHES', bad)
        with pytest.raises(ValueError, match='whole number of at least 1'):
            max_batches()


def test_each_training_epoch_stops_and_the_schedule_fits_the_capped_epoch(cap, capsys):
    learn = tiny_learner()
    learn.fit(0.1, 2, cycle_len=1)                          # SGDR: two cycles of one epoch
    assert learn.dls.train.served == 2 * cap and len(learn.lrs) == 2 * cap
    assert learn.lrs[0] == learn.lrs[cap] == pytest.approx(0.1)     # each cycle restarts
    assert learn.lrs[cap - 1] < 0.1 and len(learn.history) == 2
    out = capsys.readouterr().out
    assert out.count('COURSE_MAX_BATCHES=3') == 1                     # said once per fit
    assert 'trains on 3 of its 10 batches' in out


def test_each_validation_pass_stops(cap):
    learn = tiny_learner()
    loss, preds, targets = learn.validate()
    assert learn.dls.valid.served == cap and len(preds) == len(targets) == cap * BS
    learn.fit(0.1, 1)
    assert learn.dls.valid.served == 2 * cap


def test_predictions_stop(cap):
    learn = tiny_learner()
    preds, targets = learn.get_preds()
    assert learn.dls.valid.served == cap and preds.shape == (cap * BS, 2)


def test_tta_stops_on_the_original_and_every_augmented_pass(cap):
    learn = tiny_learner()
    probs, targets = learn.tta(n=2)
    assert learn.dls.valid.served == cap and learn.dls.extra.served == cap
    assert probs.shape == (cap * BS, 2) and len(targets) == cap * BS


def test_the_lr_finder_stops(cap):
    learn = tiny_learner()
    result = learn.lr_find(num_it=100, stop_div=False)
    assert len(result.lrs) == cap and learn.dls.train.served == cap


def test_language_model_perplexity_stops(cap):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 10)

        def reset(self):
            pass

        def forward(self, x):
            return self.emb(x)

    dl = Counting(BPTTLoader(torch.arange(400) % 10, bs=2, bptt=5))
    assert len(dl) > cap
    assert lm_perplexity(Model(), dl) > 0 and dl.served == cap


def test_precompute_stops_and_keeps_targets_in_step(cap, tmp_path, shared_data, data_root):
    for split in ('train', 'valid'):
        for cls in ('cats', 'dogs'):
            (tmp_path / 'dc' / split / cls).mkdir(parents=True)
            for f in sorted((shared_data / 'dogscats' / split / cls).iterdir())[:8]:
                shutil.copy(f, tmp_path / 'dc' / split / cls / f.name)
    dls = ImageDataLoaders.from_folder(tmp_path / 'dc', size=32, bs=2, tfms=None, num_workers=0,
                                       stats=model_stats('efficientnet_lite0'))
    _MEMORY.clear()
    head = precomputed(cnn_learner(dls, 'efficientnet_lite0', progress=False))
    x, y = head.dls.train.dataset.tensors
    assert len(x) == len(y) == cap * 2                                # 3 of 8 batches of 2
    assert len(head.dls.valid.dataset) == cap * 2


def test_a_fit_with_a_known_schedule_logs_every_loop_with_its_full_length(cap, tmp_path,
                                                                          monkeypatch):
    log = tmp_path / 'loops.jsonl'
    monkeypatch.setenv('COURSE_LOOP_TIMES', str(log))
    learn = tiny_learner()                                   # 10 train and 6 valid batches
    learn.fit(0.1, 1, cycle_len=2)                           # one cycle of two epochs
    learn.lr_find(num_it=50, stop_div=False)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    loops = [r for r in records if r['kind'] != 'fit']
    assert [(r['kind'], r['ran'], r['total']) for r in loops] == \
        [('train', 3, 10), ('epoch_valid', 3, 6)] * 2 + [('lr_find', 3, 50)]
    assert records[4] == {'lesson': 'interactive', 'kind': 'fit', 'epochs': 2, 'ran_epochs': 2}
    assert all(0 < r['first_s'] <= r['all_s'] for r in loops)
    assert [r['scales_with_data'] for r in loops] == [True] * 4 + [False]
    summary = project_loops(records)
    assert summary['loops'] == 5
    assert summary['projected_s'] == pytest.approx(
        sum(project_loop(r)['projected_s'] for r in loops), abs=1e-3)


def test_the_projection_counts_start_up_once_and_steady_batches_for_the_whole_loop():
    loop = {'kind': 'train', 'ran': 3, 'total': 10, 'first_s': 1.5, 'all_s': 2.5,
            'scales_with_data': True}
    assert project_loop(loop) == {'startup_s': 1.0, 'steady_s_per_batch': 0.5, 'batches': 10,
                                  'projected_s': 6.0}                 # 1.0 + 10 x 0.5
    assert project_loop(loop, data_scale=0.5)['projected_s'] == 11.0  # 20 batches at full size
    finder = {**loop, 'kind': 'lr_find', 'scales_with_data': False}
    assert project_loop(finder, data_scale=0.5)['batches'] == 10      # 100 steps stay 100
    one = {'kind': 'valid', 'ran': 1, 'total': 4, 'first_s': 2.0, 'all_s': 2.0}
    assert project_loop(one)['projected_s'] == 8.0                    # no steady time seen
    both = project_loops([loop, finder])
    assert both == {'loops': 2, 'measured_s': 5.0, 'projected_s': 12.0, 'startup_s': 2.0,
                    'train_s_per_batch': 0.5}


def test_the_epoch_cap_stops_every_fit(cap, monkeypatch, capsys):
    monkeypatch.setenv('COURSE_MAX_EPOCHS', '2')
    learn = tiny_learner()
    learn.fit(0.1, 3, cycle_len=1, cycle_mult=2)              # 1 + 2 + 4 epochs in full
    assert len(learn.history) == 2 and learn.dls.train.served == 2 * cap
    assert 'stops after 2 epoch(s)' in capsys.readouterr().out


def test_epochs_cut_by_the_epoch_cap_are_projected_from_those_that_ran():
    epoch = [{'kind': 'train', 'ran': 3, 'total': 10, 'first_s': 1.5, 'all_s': 2.5},     # 6.0
             {'kind': 'epoch_valid', 'ran': 2, 'total': 4, 'first_s': 1.0, 'all_s': 1.5}]  # 2.5
    fit = {'kind': 'fit', 'epochs': 17, 'ran_epochs': 1}
    after = {'kind': 'predict', 'ran': 2, 'total': 4, 'first_s': 1.0, 'all_s': 1.5}        # 2.5
    summary = project_loops([*epoch, fit, after])
    assert summary['projected_s'] == pytest.approx(17 * (6.0 + 2.5) + 2.5)
    assert summary['loops'] == 3 and summary['measured_s'] == 5.5
