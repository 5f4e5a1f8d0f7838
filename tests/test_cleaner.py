"""The image cleaner: delete and relabel really move files, and the next loaders see it."""
import pytest
import torch

from coursehelpers.tools.cleaner import DELETE, KEEP, ImageCleaner, most_suspicious, move_files
from coursehelpers.vision import ImageDataLoaders
from conftest import make_folder


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / 'colours', n=4)


def test_delete_moves_aside_and_relabel_moves_between_classes(folder):
    a, b = folder / 'train/blue/blue0.png', folder / 'train/red/red1.png'
    moves = move_files({a: DELETE, b: 'blue', folder / 'train/red/red2.png': KEEP})
    assert not a.exists() and (folder / '.deleted/train/blue/blue0.png').is_file()
    assert not b.exists() and (folder / 'train/blue/red1.png').is_file()
    assert (folder / 'train/red/red2.png').is_file()
    assert list(moves.action) == ['deleted', 'relabelled blue']
    dls = ImageDataLoaders.from_folder(folder, size=16, bs=2, tfms=None, num_workers=0)
    names = {p.name: dls.classes[int(t)] for p, t in zip(dls.train_ds.paths, dls.train_ds.targets)}
    assert 'blue0.png' not in names and names['red1.png'] == 'blue'
    assert len(dls.train_ds) == 7


def test_a_taken_name_gets_a_suffix_and_nothing_is_overwritten(folder):
    clash = folder / 'train/blue/red0.png'
    clash.write_bytes((folder / 'train/blue/blue1.png').read_bytes())
    move_files({folder / 'train/red/red0.png': 'blue'})
    assert (folder / 'train/blue/red0_1.png').is_file()
    assert clash.read_bytes() == (folder / 'train/blue/blue1.png').read_bytes()


def test_moving_a_file_that_is_gone_says_so(folder):
    with pytest.raises(FileNotFoundError, match='was it moved already'):
        move_files({folder / 'train/red/nothere.png': DELETE})


def test_most_suspicious_takes_the_worst_of_each_class(folder):
    dls = ImageDataLoaders.from_folder(folder, size=16, bs=2, tfms=None, num_workers=0)
    y = dls.valid_ds.targets                           # [0, 0, 1, 1]: blue, blue, red, red
    p_red = torch.tensor([0.9, 0.2, 0.6, 0.1])         # item 0 looks red, item 3 looks blue
    log_probs = torch.stack([1 - p_red, p_red], 1).log()
    paths, labels, captions, classes = most_suspicious(dls.valid_ds, log_probs, y, k=1)
    assert [p.name for p in paths] == [dls.valid_ds.paths[0].name, dls.valid_ds.paths[3].name]
    assert labels == ['blue', 'red'] and classes == ['blue', 'red']
    assert captions[0] == 'blue: loss 2.30, model says red (0.90)'


def test_the_widget_applies_choices_with_its_button(folder):
    dls = ImageDataLoaders.from_folder(folder, size=16, bs=2, tfms=None, num_workers=0)
    y = dls.valid_ds.targets
    log_probs = torch.full((len(y), 2), 0.5).log()
    cleaner = ImageCleaner(*most_suspicious(dls.valid_ds, log_probs, y, k=2))
    assert len(cleaner.dropdowns) == 4 and cleaner.paths[0].parent.name == 'blue'
    first, second = cleaner.paths[0], cleaner.paths[2]
    cleaner.choose(0, DELETE)
    cleaner.choose(2, 'blue')
    cleaner.button.click()
    assert not first.exists() and (folder / '.deleted/valid/blue' / first.name).is_file()
    assert (folder / 'valid/blue' / second.name).is_file()
    assert cleaner.status.value.startswith('2 files moved')
    assert cleaner.dropdowns[0].disabled and not cleaner.dropdowns[1].disabled
    assert len(cleaner.apply()) == 0 and cleaner.status.value == 'Nothing to change.'


@pytest.mark.parametrize('choice', ['../../outside', 'red/../../x', '..', '.deleted', ''])
def test_a_choice_that_is_not_a_class_folder_moves_nothing(folder, choice):
    a, b = folder / 'train/blue/blue0.png', folder / 'train/red/red1.png'
    with pytest.raises(ValueError, match='is not a class name'):
        move_files({a: 'red', b: choice})
    assert a.is_file() and b.is_file()                      # checked before the first move
