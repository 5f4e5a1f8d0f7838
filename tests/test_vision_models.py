"""Pretrained CNNs: real efficientnet-lite0 ImageNet weights, ResNet weights from the torch cache,
the new head and the three layer groups. Nothing here downloads."""
import pytest
import torch
import torchvision
from torch import nn

from coursehelpers.vision import (IMAGENET_STATS, WeightsError, create_cnn, imagenet_model,
                                  model_stats, open_image, valid_tfms)
from coursehelpers.vision.models import _lite0_file, load_by_position


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    return tmp_path / 'torch'


def _groups_partition_the_parameters(model):
    groups = [{id(p) for p in g.parameters()} for g in model.layer_groups()]
    everything = {id(p) for p in model.parameters()}
    disjoint = sum(map(len, groups)) == len(everything)
    return all(groups) and disjoint and set().union(*groups) == everything


def test_model_stats():
    assert model_stats('resnet50') == IMAGENET_STATS
    assert model_stats('efficientnet_lite0') == ((0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ValueError, match="resnet34"):
        model_stats('resnet35')


def test_random_resnet_has_a_head_and_three_groups():
    torch.manual_seed(0)
    model = create_cnn('resnet18', n_out=3, pretrained=False)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)
    assert len(model.layer_groups()) == 3 and _groups_partition_the_parameters(model)
    assert [len(g) for g in model.layer_groups()[:2]] == [6, 2]   # conv1..layer2, layer3..layer4
    assert model.head[-1].out_features == 3 and model.stats == IMAGENET_STATS


def test_resnet_weights_missing_from_the_cache_say_how_to_get_them(empty_torch_home):
    with pytest.raises(WeightsError) as err:
        create_cnn('resnet34', n_out=2, download=False)
    msg = str(err.value)
    assert "torchvision.models.resnet34(weights='IMAGENET1K_V1')" in msg
    assert str(empty_torch_home / 'hub' / 'checkpoints' / 'resnet34-b627a593.pth') in msg
    assert 'efficientnet_lite0' in msg


def test_resnet_weights_come_from_the_torch_cache(empty_torch_home):
    torch.manual_seed(1)
    saved = torchvision.models.resnet18().state_dict()
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    (empty_torch_home / 'hub' / 'checkpoints').mkdir(parents=True)
    torch.save(saved, empty_torch_home / 'hub' / 'checkpoints' / url.rsplit('/', 1)[-1])
    model = create_cnn('resnet18', n_out=2, download=False)
    assert torch.equal(model.body[0].weight, saved['conv1.weight'])
    assert torch.equal(model.body[7][1].conv2.weight, saved['layer4.1.conv2.weight'])


def test_efficientnet_lite0_loads_the_real_imagenet_weights():
    shipped = torch.load(_lite0_file(), map_location='cpu', weights_only=True)
    assert len(shipped) == 296
    model = create_cnn('efficientnet_lite0', n_out=17)
    assert torch.equal(model.body[0].weight, shipped['_conv_stem.weight'])
    assert model.stats == ((0.5,) * 3, (0.5,) * 3)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 17)
    assert _groups_partition_the_parameters(model)


def test_pretrained_lite0_sees_a_cat_in_a_real_cat_photo(shared_data):
    cat = shared_data / 'dogscats' / 'valid' / 'cats' / 'cat.10042.jpg'
    net = imagenet_model('efficientnet_lite0')
    tfm = valid_tfms(224, model_stats('efficientnet_lite0'))
    x = tfm(open_image(cat))[None]                           # 1 x 3 x 224 x 224
    with torch.no_grad():
        probs = net(x).softmax(dim=1)[0]
    assert probs.shape == (1000,)
    assert 281 <= int(probs.argmax()) <= 285                 # ImageNet's domestic cats
    assert float(probs[281:286].sum()) > 0.5


def test_load_by_position_refuses_weights_of_another_model():
    shipped = torch.load(_lite0_file(), map_location='cpu', weights_only=True)
    with pytest.raises(WeightsError, match='296 tensors'):
        load_by_position(torchvision.models.resnet18(), shipped)
    small = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(WeightsError, match=r'does not fit 0.weight \(4, 3\)'):
        load_by_position(small, {'w': torch.zeros(4, 5), 'b': torch.zeros(4)})
