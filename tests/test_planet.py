"""Lesson 02 (Planet): F2 and its threshold, multi-label detection, dihedral symmetries,
the resize cache, the model summary and the submission file."""
import csv
import os
import shutil

import pytest
import torch
from sklearn.metrics import fbeta_score
from torch import nn

from coursehelpers.training.metrics import default_loss
from coursehelpers.vision.multilabel import THRESHOLDS, f2, f2_search
from coursehelpers.tools.summary import model_summary
from coursehelpers.tools.submission import write_submission
from coursehelpers.vision.transforms import dihedral
from coursehelpers.vision.data import ImageDataLoaders, make_targets
from coursehelpers.vision.files import get_image_files, resize_images


def random_multilabel(n=200, c=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, c, generator=g) ** 2          # skewed low, like real tag probabilities
    targets = (torch.rand(n, c, generator=g) < 0.25).float()
    targets[targets.sum(1) == 0, 0] = 1                 # every image has a tag, as in Planet
    return probs, targets


@pytest.mark.parametrize('thresh', [0.1, 0.17, 0.2, 0.24, 0.5])
def test_f2_matches_sklearn(thresh):
    probs, targets = random_multilabel()
    ours = f2(probs, targets, thresh)
    theirs = fbeta_score(targets.numpy(), (probs > thresh).numpy().astype(int), beta=2,
                         average='samples', zero_division=0)
    assert ours == pytest.approx(theirs, abs=1e-5)


def test_f2_search_picks_the_best_threshold():
    probs, targets = random_multilabel(seed=1)
    best, thresh = f2_search(probs, targets)
    scores = {t: f2(probs, targets, t) for t in THRESHOLDS}
    assert thresh in THRESHOLDS
    assert best == max(scores.values())
    assert scores[thresh] == best
    assert THRESHOLDS[0] == 0.17 and THRESHOLDS[-1] == 0.24 and len(THRESHOLDS) == 8


def test_f2_search_finds_a_planted_threshold():
    # each positive has probability 0.215, each negative 0.205: only thresholds in
    # (0.205, 0.215) score 1, so the search must return 0.21
    targets = torch.tensor([[1., 0., 1.], [0., 1., 0.]])
    probs = torch.where(targets.bool(), torch.tensor(0.215), torch.tensor(0.205))
    assert f2_search(probs, targets) == (pytest.approx(1.0), 0.21)
    with pytest.raises(ValueError, match='at least one threshold'):
        f2_search(probs, targets, thresholds=())


def test_multi_label_is_detected_from_the_labels():
    classes, targets, multi = make_targets([['haze', 'primary'], ['clear'], ['clear', 'water']])
    assert multi and classes == ['clear', 'haze', 'primary', 'water']
    assert targets.tolist() == [[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1]]
    assert isinstance(default_loss(type('D', (), {'multi_label': True})()), nn.BCEWithLogitsLoss)
    _, single, multi = make_targets(['cats', 'dogs'])
    assert not multi and single.dtype == torch.int64


def test_planet_sample_loads_as_multi_label(shared_data):
    dls = ImageDataLoaders.from_csv(shared_data / 'planet', csv='train_v2.csv', folder='train-jpg',
                                    suffix='.jpg', label_delim=' ', valid_pct=0.2, seed=42,
                                    size=32, tfms=None, num_workers=0)
    assert dls.multi_label and len(dls.train_ds) == 560 and len(dls.valid_ds) == 140
    assert dls.train_ds.targets.shape == (560, len(dls.classes))
    assert 'primary' in dls.classes and (dls.train_ds.targets.sum(1) >= 1).all()
    assert isinstance(default_loss(dls), nn.BCEWithLogitsLoss)


def test_the_8_dihedral_transforms_are_distinct_and_invertible():
    x = torch.arange(3 * 4 * 4.).reshape(3, 4, 4)        # no symmetry of its own
    outs = [dihedral(x, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    for k, o in enumerate(outs):
        back = [j for j in range(8) if torch.equal(dihedral(o, j), x)]
        assert len(back) == 1, f'symmetry {k} has no single inverse'
    assert torch.equal(outs[0], x)


def test_resize_cache_is_reused_and_rebuilt_when_an_image_changes(shared_data, tmp_path):
    src = tmp_path / 'train-jpg'
    src.mkdir()
    for f in sorted((shared_data / 'planet' / 'train-jpg').iterdir())[:3]:
        shutil.copy2(f, src / f.name)
    cache = resize_images(src, 32, dest=tmp_path / 'cache')
    copies = get_image_files(cache)
    assert len(copies) == 3 and cache.name == 'train-jpg_resized_32'
    from PIL import Image
    assert min(Image.open(copies[0]).size) == round(32 * 1.3)
    stamps = {p.name: p.stat().st_mtime_ns for p in copies}
    inodes = {p.name: p.stat().st_ino for p in copies}
    resize_images(src, 32, dest=tmp_path / 'cache')                 # nothing to do
    assert {p.name: p.stat().st_ino for p in get_image_files(cache)} == inodes
    changed = src / copies[1].name
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the source was edited
    resize_images(src, 32, dest=tmp_path / 'cache')
    after = {p.name: p.stat() for p in get_image_files(cache)}
    assert after[changed.name].st_ino != inodes[changed.name]        # rewritten
    assert after[changed.name].st_mtime_ns == changed.stat().st_mtime_ns
    others = [n for n in inodes if n != changed.name]
    assert all(after[n].st_ino == inodes[n] and after[n].st_mtime_ns == stamps[n] for n in others)


def test_submission_file_format(tmp_path):
    probs = torch.tensor([[0.9, 0.1, 0.3], [0.05, 0.1, 0.15], [0.5, 0.6, 0.7]])
    paths = ['x/test_0.jpg', 'x/test_1.jpg', 'x/file_10.jpg']
    out = write_submission(probs, paths, ['clear', 'haze', 'primary'], 0.2, tmp_path / 's.csv')
    with open(out, newline='') as f:
        rows = list(csv.reader(f))
    assert rows == [['image_name', 'tags'], ['test_0', 'clear primary'], ['test_1', ''],
                    ['file_10', 'clear haze primary']]
    with pytest.raises(ValueError, match='same split'):
        write_submission(probs, paths[:2], ['clear', 'haze', 'primary'], 0.2, tmp_path / 't.csv')
    with pytest.raises(ValueError, match='one column per class'):
        write_submission(probs, paths, ['clear', 'haze'], 0.2, tmp_path / 'u.csv')


def test_model_summary_lists_layers_with_shapes_and_params():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    model[0].weight.requires_grad_(False)
    model.train()
    df = model_summary(model, torch.zeros(2, 3, 8, 8))
    assert df['layer'].tolist() == ['0', '1', '2', '3', '4']
    assert df['output_shape'].tolist() == [(2, 8, 8, 8), (2, 8, 8, 8), (2, 8, 4, 4), (2, 128),
                                           (2, 5)]
    assert df['params'].tolist() == [8 * 27 + 8, 0, 0, 0, 128 * 5 + 5]
    assert df['trainable'].tolist() == [8, 0, 0, 0, 128 * 5 + 5]
    assert model.training                                            # mode restored
