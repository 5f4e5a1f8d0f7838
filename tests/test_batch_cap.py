"""COURSE_MAX_BATCHES: every loop it names stops after that many batches (one test per loop)."""
import shutil

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers.env.modes import batches_to_run, max_batches
from coursehelpers.text.models import lm_perplexity
from coursehelpers.training.learner import Learner
from coursehelpers.training.loaders import BPTTLoader, DataLoaders
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
