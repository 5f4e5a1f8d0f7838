"""cnn_learner, the precomputed-activations cache and the interpretation helpers."""
import shutil
import warnings

import pytest
import torch

from coursehelpers.tools.interpret import confusion_matrix, pick, top_losses
from coursehelpers.vision import ImageDataLoaders, model_stats, side_on_tfms
from coursehelpers.vision.learner import _MEMORY, _fingerprint, cnn_learner, precomputed


@pytest.fixture
def tiny(tmp_path, shared_data, data_root):
    """8 real photos per class and split, copied from the shared sample."""
    for split in ('train', 'valid'):
        for cls in ('cats', 'dogs'):
            (tmp_path / 'dc' / split / cls).mkdir(parents=True)
            for f in sorted((shared_data / 'dogscats' / split / cls).iterdir())[:8]:
                shutil.copy(f, tmp_path / 'dc' / split / cls / f.name)
    return tmp_path / 'dc'


def loaders(path, size=64, tfms=None):
    return ImageDataLoaders.from_folder(path, size=size, bs=8, tfms=tfms,
                                        stats=model_stats('efficientnet_lite0'), num_workers=0)


def test_cnn_learner_freezes_the_body_and_picks_the_loss(tiny):
    learn = cnn_learner(loaders(tiny), 'efficientnet_lite0', progress=False)
    groups = learn.group_params
    assert not any(p.requires_grad for g in groups[:2] for p in g)
    assert all(p.requires_grad for p in groups[2])
    assert isinstance(learn.loss_func, torch.nn.CrossEntropyLoss)


def test_precomputed_cache_is_reused_and_invalidated(tiny, capsys):
    _MEMORY.clear()
    learn = cnn_learner(loaders(tiny), 'efficientnet_lite0', progress=False)
    head = precomputed(learn)
    assert 'computed now' in capsys.readouterr().out
    assert len(head.dls.train.dataset) == 16
    precomputed(learn)
    assert '(memory)' in capsys.readouterr().out
    key = _fingerprint(learn)
    _MEMORY.clear()
    precomputed(learn)                                       # a new process would read the file
    assert '.cache/activations' in capsys.readouterr().out
    learn.dls = loaders(tiny, size=96)                       # another image size
    assert _fingerprint(learn) != key
    learn.dls = loaders(tiny)
    victim = next((tiny / 'train' / 'cats').iterdir())
    shutil.copy(next((tiny / 'train' / 'dogs').iterdir()), victim)   # an image changed
    assert _fingerprint(learn) != key
    learn2 = cnn_learner(loaders(tiny), 'efficientnet_lite0', progress=False)
    key2 = _fingerprint(learn2)
    with torch.no_grad():
        learn2.model.body[0].weight.mul_(1.01)               # the body changed
    assert _fingerprint(learn2) != key2


def test_training_the_precomputed_head_trains_the_learners_head(tiny):
    learn = cnn_learner(loaders(tiny), 'efficientnet_lite0', progress=False)
    before = learn.model.head[-1].weight.detach().clone()
    precomputed(learn).fit(1e-3, 1)
    assert not torch.equal(before, learn.model.head[-1].weight.detach())


def test_precomputed_with_augmentation_warns(tiny):
    learn = cnn_learner(loaders(tiny, tfms=side_on_tfms), 'efficientnet_lite0', progress=False)
    with pytest.warns(UserWarning, match='augmentation is OFF'):
        precomputed(learn)
    learn.dls = loaders(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        precomputed(learn)


def test_pick_finds_each_kind():
    probs = torch.tensor([[.9, .1], [.6, .4], [.2, .8], [.45, .55], [.3, .7], [.99, .01]])
    y = torch.tensor([0, 0, 1, 0, 0, 1])
    assert set(pick(probs, y, 'correct').tolist()) == {0, 1, 2}
    assert set(pick(probs, y, 'incorrect').tolist()) == {3, 4, 5}
    assert pick(probs, y, 'most_correct', cls=0).tolist() == [0, 1]
    assert pick(probs, y, 'most_incorrect', cls=0).tolist() == [4, 3]   # surest it was a dog first
    assert pick(probs, y, 'most_incorrect', cls=1).tolist() == [5]
    assert pick(probs, y, 'uncertain', n=2).tolist() == [3, 1]
    with pytest.raises(ValueError, match='cls='):
        pick(probs, y, 'most_correct')


def test_confusion_matrix_and_top_losses():
    cm = confusion_matrix(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0]), 2)
    assert cm.tolist() == [[2, 1], [0, 1]]
    log_probs = torch.tensor([[.9, .1], [.2, .8], [.6, .4]]).log()
    losses, idx = top_losses(log_probs, torch.tensor([0, 0, 1]), k=2)
    assert idx.tolist() == [1, 2]
    assert torch.allclose(losses, -torch.tensor([.2, .4]).log())
