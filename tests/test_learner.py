"""The Learner on tiny synthetic data: a small network on random tensors, on the CPU in seconds."""
import functools

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers.training.callbacks import CallbackError, CancelFit
from coursehelpers.training.learner import Learner
from coursehelpers.training.loaders import DataLoaders
from coursehelpers.training.metrics import accuracy, accuracy_multi, fbeta_multi
from coursehelpers.training.schedules import one_cycle

matplotlib.use('Agg')

N_IN = 8


class Net(nn.Module):
    """Three layer groups; the first holds a BatchNorm layer."""

    def __init__(self, hidden=16, n_out=2):
        super().__init__()
        self.body1 = nn.Sequential(nn.Linear(N_IN, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.body2 = nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.head(self.body2(self.body1(x)))

    def layer_groups(self):
        return [self.body1, self.body2, self.head]


def make_dls(n_train=64, n_valid=40, bs=16, cls=DataLoaders):
    """Two separable classes: the label is whether the first feature is positive."""
    x = torch.randn(n_train + n_valid, N_IN)
    y = (x[:, 0] > 0).long()
    train = TensorDataset(x[:n_train], y[:n_train])
    valid = TensorDataset(x[n_train:], y[n_train:])
    dls = cls(DataLoader(train, bs, shuffle=True, drop_last=True), DataLoader(valid, bs))
    dls.classes = ['neg', 'pos']
    return dls


def make_learner(tmp_path=None, dls=None, **kwargs):
    kwargs.setdefault('progress', False)
    return Learner(Net(), dls or make_dls(), nn.CrossEntropyLoss(), metrics=[accuracy],
                   path=tmp_path or 'models', **kwargs)


@pytest.fixture(autouse=True)
def seeded(monkeypatch):
    monkeypatch.setenv('COURSE_DEVICE', 'cpu')
    torch.manual_seed(0)


def cpu_state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def test_fit_trains_prints_a_table_and_keeps_history(capsys):
    learn = make_learner(progress=True)
    learn.fit(1e-2, 3)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'time']
    assert [line.split()[0] for line in out[1:]] == ['0', '1', '2']
    assert list(learn.history.columns) == ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'time']
    assert len(learn.history) == 3
    assert learn.history['accuracy'].iloc[-1] > 0.8
    assert learn.history['train_loss'].iloc[-1] < learn.history['train_loss'].iloc[0]
    assert len(learn.lrs) == len(learn.batch_losses) == 3 * 4
    assert set(learn.lrs) == {1e-2}                        # no cycle_len: a constant rate


def test_one_batch_steps_and_clears_the_gradients():
    learn = make_learner()
    before = cpu_state(learn.model)
    loss = learn.one_batch(next(iter(learn.dls.train)))
    assert loss.dim() == 0 and not loss.requires_grad
    assert all(p.grad is None for p in learn.model.parameters())
    assert not torch.equal(before['head.weight'], cpu_state(learn.model)['head.weight'])


def test_validation_loss_is_the_mean_over_every_item():
    learn = make_learner()
    loss, preds, targets = learn.validate()
    x, y = learn.dls.valid.dataset.tensors
    learn.model.eval()
    with torch.no_grad():
        expected = F.cross_entropy(learn.model(x), y).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert preds.shape == (40, 2) and torch.equal(targets, y)


def test_sgdr_restarts_at_full_rate_after_1_and_3_epochs():
    learn = make_learner()
    learn.fit(1e-2, 3, cycle_len=1, cycle_mult=2)
    n = len(learn.dls.train)
    assert len(learn.history) == 7 and len(learn.lrs) == 7 * n
    tops = [i for i, lr in enumerate(learn.lrs) if lr == pytest.approx(1e-2)]
    assert tops == [0, n, 3 * n]
    assert learn.lrs[n - 1] < 2e-3 and learn.lrs[3 * n - 1] < 1e-3


def test_cycles_of_half_an_epoch_restart_within_one_epoch():
    learn = make_learner(dls=make_dls(n_train=128))       # 8 mini-batches per epoch
    learn.fit(1e-2, 2, cycle_len=0.5)
    assert len(learn.history) == 1 and len(learn.lrs) == 8
    assert [i for i in range(1, 8) if learn.lrs[i] > learn.lrs[i - 1]] == [4]   # the restart
    assert learn.lrs[0] == learn.lrs[4] == pytest.approx(1e-2)
    with pytest.raises(ValueError, match='add up to a whole number'):
        learn.fit(1e-2, 1, cycle_len=0.5)


def test_fit_one_cycle_warms_up_then_anneals():
    learn = make_learner()
    learn.fit_one_cycle(2, 1e-2)
    lrs = learn.lrs
    assert lrs[0] == pytest.approx(1e-2 / 25)
    assert max(lrs) == pytest.approx(1e-2, rel=0.05)
    n = len(lrs)
    assert lrs == pytest.approx([1e-2 * one_cycle(i / n) for i in range(n)])
    assert len(learn.history) == 2


def test_differential_rates_reach_the_right_param_groups():
    learn = make_learner()
    learn.fit([1e-4, 1e-3, 1e-2], 1)
    assert [g['lr'] for g in learn.opt.param_groups] == pytest.approx([1e-4, 1e-3, 1e-2])
    head = {id(p) for p in learn.model.head.parameters()}
    assert {id(p) for p in learn.opt.param_groups[2]['params']} == head
    assert {id(p) for p in learn.opt.param_groups[0]['params']} == {
        id(p) for p in learn.model.body1.parameters()}
    learn.fit(slice(1e-5, 1e-3), 1)
    assert [g['lr'] for g in learn.opt.param_groups] == pytest.approx([1e-5, 1e-4, 1e-3])


def test_wrong_number_of_rates_is_a_clear_error():
    learn = make_learner()
    with pytest.raises(ValueError, match='lr has 2 rates but this learner has 3 layer groups'):
        learn.fit([1e-3, 1e-2], 1)


def test_explicit_groups_must_cover_the_model():
    model = Net()
    with pytest.raises(ValueError, match='in no layer group.*head'):
        Learner(model, make_dls(), nn.CrossEntropyLoss(), layer_groups=[model.body1, model.body2])
    whole = Learner(nn.Linear(N_IN, 2), make_dls(), nn.CrossEntropyLoss())
    assert len(whole.layer_groups) == 1 and len(whole.opt.param_groups) == 1


def test_lr_find_stops_when_the_loss_diverges():
    learn = make_learner()
    result = learn.lr_find(start_lr=1e-4, end_lr=1e4, num_it=100)
    assert 1 < len(result.lrs) < 100
    assert result.losses[-1] > 4 * min(result.losses) or result.losses[-1] != result.losses[-1]
    assert result.lrs == sorted(result.lrs)
    assert result.suggestion == pytest.approx(result.lr_min / 10)
    fig = learn.plot_lr_find()
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == 'log'
    loss_ax, lr_ax = fig.axes                         # the order lessons 01 and 03 describe
    assert loss_ax.get_ylabel() == 'smoothed loss' and 'loss' in loss_ax.get_title()
    assert lr_ax.get_xlabel() == 'iteration' and lr_ax.get_yscale() == 'log'


@pytest.mark.parametrize('flavour', ['terminal', 'notebook'])
def test_lr_find_ends_a_diverging_sweep_as_a_normal_end(flavour, monkeypatch, capsys):
    if flavour == 'notebook':                 # the bar JupyterLab shows (tqdm.auto there)
        import tqdm.notebook
        monkeypatch.setattr('coursehelpers.training.learner.tqdm', tqdm.notebook.tqdm)
    learn = make_learner(progress=True)
    result = learn.lr_find(start_lr=1e-4, end_lr=1e4, num_it=100)
    steps = len(result.lrs)
    assert 1 < steps < 100
    out = capsys.readouterr().out
    assert f'stopped at step {steps} of 100: the loss diverged' in out
    bar = learn.bar
    assert bar.n == bar.total == steps and bar.disable         # closed, and full
    if flavour == 'notebook':
        drawn = bar.container.children[1]                     # the IntProgress widget
        assert drawn.value == drawn.max == steps and drawn.bar_style != 'danger'


def test_a_sweep_that_runs_to_its_end_needs_no_message(capsys):
    learn = make_learner(progress=True)
    result = learn.lr_find(num_it=12, stop_div=False)
    assert len(result.lrs) == 12 and learn.bar.n == learn.bar.total == 12
    assert 'stopped at step' not in capsys.readouterr().out


def test_lr_find_restores_weights_and_optimizer_exactly():
    learn = make_learner()
    learn.fit(1e-2, 1)                                     # the optimizer now has state
    weights = cpu_state(learn.model)
    opt_state = learn.opt.state_dict()
    before = {k: {n: t.clone() for n, t in s.items()} for k, s in opt_state['state'].items()}
    lrs_before = [g['lr'] for g in learn.opt.param_groups]
    learn.lr_find(num_it=20)
    after = cpu_state(learn.model)
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    state = learn.opt.state_dict()['state']
    assert state.keys() == before.keys()
    assert all(torch.equal(before[k][n], state[k][n]) for k in before for n in before[k])
    assert [g['lr'] for g in learn.opt.param_groups] == lrs_before


def test_lr_find_goes_through_three_batches_again(capsys):
    learn = make_learner(dls=make_dls(n_train=48, bs=16))
    result = learn.lr_find(num_it=30, stop_div=False)
    assert len(result.lrs) == len(result.losses) == 30
    assert result.lrs[0] == pytest.approx(1e-7) and result.lrs[-1] == pytest.approx(10)
    assert capsys.readouterr().out.count('goes through them again') == 1


def test_freeze_keeps_frozen_groups_and_their_batchnorm_statistics():
    learn = make_learner()
    learn.freeze()
    assert [all(p.requires_grad for p in ps) for ps in learn.group_params] == [False, False, True]
    before = cpu_state(learn.model)
    learn.fit(1e-2, 2)
    after = cpu_state(learn.model)
    frozen = [k for k in before if k.startswith(('body1', 'body2'))]
    assert any('running_mean' in k for k in frozen)
    assert any('num_batches_tracked' in k for k in frozen)
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before['head.weight'], after['head.weight'])
    learn.freeze_to(1)                                    # now body2 trains, body1 stays frozen
    learn.fit(1e-2, 1)
    again = cpu_state(learn.model)
    assert torch.equal(after['body1.1.running_mean'], again['body1.1.running_mean'])
    assert not torch.equal(after['body2.1.running_mean'], again['body2.1.running_mean'])
    assert not torch.equal(after['body2.0.weight'], again['body2.0.weight'])
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())
    with pytest.raises(ValueError, match='at least one must train'):
        learn.freeze_to(3)


def test_fine_tune_trains_head_first_then_everything():
    learn = make_learner()
    before = cpu_state(learn.model)
    learn.fine_tune(1, base_lr=1e-2)
    assert all(p.requires_grad for p in learn.model.parameters())
    assert [g['lr'] for g in learn.opt.param_groups][0] < learn.opt.param_groups[2]['lr']
    assert not torch.equal(before['body1.0.weight'], cpu_state(learn.model)['body1.0.weight'])


def test_get_preds_are_log_probabilities_in_dataset_order():
    learn = make_learner()
    learn.fit(1e-2, 1)
    preds, targets = learn.get_preds()
    x, y = learn.dls.valid.dataset.tensors
    learn.model.eval()
    with torch.no_grad():
        expected = F.log_softmax(learn.model(x), dim=-1)
    assert preds.shape == (40, 2) and torch.allclose(preds, expected, atol=1e-6)
    assert torch.equal(targets, y)
    assert torch.allclose(preds.exp().sum(1), torch.ones(40))
    with pytest.raises(ValueError, match='shuffles'):
        learn.get_preds('train')
    with pytest.raises(ValueError, match='no test set'):
        learn.get_preds('test')


def test_predictions_follow_the_loss_or_the_given_activation():
    dls = make_dls()
    multi = Learner(Net(n_out=3), dls, nn.BCEWithLogitsLoss(), progress=False)
    probs = multi.predict(torch.randn(5, N_IN))
    assert probs.shape == (5, 3) and probs.min() >= 0 and probs.max() <= 1
    reg = Learner(Net(n_out=1), dls, nn.MSELoss(), progress=False)
    x = torch.randn(5, N_IN)
    reg.model.eval()
    assert torch.allclose(reg.predict(x), reg.model(x).detach())
    custom = Learner(Net(), dls, nn.CrossEntropyLoss(), progress=False,
                     pred_activation=lambda out: out.softmax(-1))
    assert torch.allclose(custom.predict(x).sum(1), torch.ones(5))


def test_predict_asks_for_the_batch_dimension():
    learn = make_learner()
    x = learn.dls.valid.dataset[0][0]
    assert learn.predict(x[None]).shape == (1, 2)
    with pytest.raises(ValueError, match=r'lacks the batch dimension. Pass x\[None\]'):
        learn.predict(x)


class NoisyDataLoaders(DataLoaders):
    """Augmentation = Gaussian noise on the inputs; keeps the loaders it gave out."""

    given = None

    def augmented(self, ds):
        x, y = self.loader(ds).dataset.tensors
        dl = DataLoader(TensorDataset(x + 0.5 * torch.randn_like(x), y), batch_size=16)
        self.given = (self.given or []) + [dl]
        return dl


def test_tta_averages_original_and_augmented_probabilities():
    learn = make_learner(dls=make_dls(cls=NoisyDataLoaders))
    learn.fit(1e-2, 1)
    probs, targets = learn.tta(n=3)
    plain, _ = learn.get_preds()
    learn.model.eval()
    with torch.no_grad():
        augmented = [learn.model(dl.dataset.tensors[0]).softmax(-1) for dl in learn.dls.given]
    assert len(augmented) == 3
    expected = (plain.exp() + sum(augmented)) / 4
    assert probs.shape == (40, 2) and torch.allclose(probs, expected, atol=1e-6)
    assert torch.equal(targets, learn.dls.valid.dataset.tensors[1])
    assert not torch.allclose(probs, plain.exp())


def test_tta_without_augmentation_says_so():
    with pytest.raises(NotImplementedError, match='no augmentation; TTA needs one'):
        make_learner().tta()


def test_save_and_load_give_identical_predictions(tmp_path):
    learn = make_learner(tmp_path)
    learn.fit(1e-2, 1)
    file = learn.save('stage1')
    assert file == tmp_path / 'stage1.pth'
    assert [p.name for p in tmp_path.iterdir()] == ['stage1.pth']          # no temporary file left
    ckpt = torch.load(file, weights_only=True)
    assert ckpt['meta']['model_class'] == 'Net' and ckpt['meta']['classes'] == ['neg', 'pos']
    other = make_learner(tmp_path, dls=learn.dls)
    assert not torch.equal(other.get_preds()[0], learn.get_preds()[0])
    other.load('stage1')
    assert torch.equal(other.get_preds()[0], learn.get_preds()[0])
    assert other.opt.state_dict()['state'].keys() == learn.opt.state_dict()['state'].keys()
    torch.save(learn.model.state_dict(), tmp_path / 'bare.pth')   # a plain state dict loads too
    third = make_learner(tmp_path, dls=learn.dls).load('bare')
    assert torch.equal(third.get_preds()[0], learn.get_preds()[0])


def test_load_refuses_another_architecture(tmp_path):
    make_learner(tmp_path).save('stage1')
    wider = Learner(Net(hidden=32), make_dls(), nn.CrossEntropyLoss(), path=tmp_path)
    with pytest.raises(ValueError, match=r'different architecture(.|\n)*body1.0.weight: shape'):
        wider.load('stage1')
    with pytest.raises(FileNotFoundError, match=r"stage2.pth(.|\n)*\['stage1.pth'\]"):
        wider.load('stage2')


def test_load_refuses_optimizer_state_of_other_layer_groups(tmp_path):
    make_learner(tmp_path).save('stage1')
    model = Net()
    whole = Learner(model, make_dls(), nn.CrossEntropyLoss(), layer_groups=[model], path=tmp_path)
    before = cpu_state(whole.model)
    with pytest.raises(ValueError, match=r'sizes \[4, 4, 2\], this learner \[10\]'):
        whole.load('stage1')
    assert all(torch.equal(before[k], v) for k, v in cpu_state(whole.model).items())
    whole.load('stage1', with_opt=False)
    assert not torch.equal(before['head.weight'], cpu_state(whole.model)['head.weight'])


class Recorder:
    def __init__(self):
        self.events = []

    def __getattr__(self, name):                  # answers every event name
        if not name.startswith(('before_', 'after_')):
            raise AttributeError(name)
        return lambda learn: self.events.append(name)


def test_callbacks_see_events_in_order_and_can_cancel():
    rec = Recorder()
    learn = make_learner(dls=make_dls(n_train=32, bs=16))
    learn.fit(1e-3, 1, cbs=[rec])
    batch = ['before_batch', 'after_loss', 'after_batch']
    assert rec.events == ['before_fit', 'before_epoch', *batch, *batch, 'before_validate',
                          'after_validate', 'after_epoch', 'after_fit']

    class StopAfterOneBatch:
        def after_batch(self, learn):
            raise CancelFit()

    learn.fit(1e-3, 2, cbs=[StopAfterOneBatch(), rec])
    assert len(learn.lrs) == 1 and learn.history.empty and rec.events[-1] == 'after_fit'


def test_callback_errors_name_the_callback_and_event():
    class Boom:
        def after_loss(self, learn):
            raise ZeroDivisionError('division by zero')

    with pytest.raises(CallbackError, match='Boom failed in after_loss: ZeroDivisionError'):
        make_learner().fit(1e-3, 1, cbs=[Boom()])


def test_gpu_out_of_memory_names_the_batch_size():
    class Greedy(Net):
        def forward(self, x):
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2 GiB')

    learn = Learner(Greedy(), make_dls(bs=16), nn.CrossEntropyLoss(), progress=False)
    with pytest.raises(torch.cuda.OutOfMemoryError, match='batch size 16.*bs=8'):
        learn.fit(1e-3, 1)


def test_default_loss_comes_from_the_data():
    dls = make_dls()
    assert isinstance(Learner(Net(), dls).loss_func, nn.CrossEntropyLoss)
    dls.multi_label = True
    assert isinstance(Learner(Net(), dls).loss_func, nn.BCEWithLogitsLoss)
    del dls.classes, dls.multi_label
    with pytest.raises(ValueError, match='pass a loss function'):
        Learner(Net(), dls)


def test_plots_return_matplotlib_objects():
    learn = make_learner()
    with pytest.raises(ValueError, match='train first'):
        learn.plot_losses()
    with pytest.raises(ValueError, match=r'run learn.lr_find\(\) first'):
        learn.plot_lr_find()
    learn.fit(1e-2, 2, cycle_len=1)
    assert len(learn.plot_losses().lines) == 3
    assert learn.plot_metrics().axes[0].get_ylabel() == 'accuracy'
    assert len(learn.plot_lr().lines[0].get_ydata()) == len(learn.lrs)


def test_metrics():
    log_probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]).log()
    assert accuracy(log_probs, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    probs = torch.tensor([[0.9, 0.3, 0.1], [0.1, 0.6, 0.7]])
    targets = torch.tensor([[1., 1., 0.], [0., 1., 1.]])
    assert accuracy_multi(probs, targets) == pytest.approx(5 / 6)
    assert accuracy_multi(probs, targets, thresh=0.2) == pytest.approx(1.0)
    # item 1: precision 1, recall 1/2 -> F2 = 5 * 0.5 / (4 + 0.5); item 2: perfect
    assert fbeta_multi(probs, targets, thresh=0.5) == pytest.approx((2.5 / 4.5 + 1) / 2)


def test_multi_label_training_reports_a_partial_metric_by_its_name():
    dls = make_dls()
    for dl in (dls.train, dls.valid):                      # targets become N x 2 of 0/1
        x, y = dl.dataset.tensors
        dl.dataset.tensors = (x, F.one_hot(y, 2).float())
    learn = Learner(Net(), dls, nn.BCEWithLogitsLoss(), progress=False,
                    metrics=[functools.partial(accuracy_multi, thresh=0.2)])
    learn.fit(1e-2, 2)
    assert list(learn.history.columns) == ['epoch', 'train_loss', 'valid_loss', 'accuracy_multi',
                                           'time']
    preds, targets = learn.get_preds()                     # sigmoid probabilities
    assert preds.shape == targets.shape == (40, 2) and 0 <= preds.min() <= preds.max() <= 1
    assert learn.history['accuracy_multi'].iloc[-1] == pytest.approx(
        accuracy_multi(preds, targets, thresh=0.2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_training_on_the_gpu(monkeypatch):
    monkeypatch.delenv('COURSE_DEVICE')
    learn = make_learner()
    assert learn.device.type == 'cuda' and next(learn.model.parameters()).is_cuda
    learn.fit(1e-2, 3)
    assert learn.history['accuracy'].iloc[-1] > 0.8
    preds, targets = learn.get_preds()
    assert preds.device.type == 'cpu' and preds.dtype == torch.float32 and preds.shape == (40, 2)
    weights = cpu_state(learn.model)
    learn.lr_find(num_it=10)
    assert all(torch.equal(weights[k], v) for k, v in cpu_state(learn.model).items())



def test_keep_bn_stats_leaves_the_body_statistics_and_trains_the_rest(tmp_path):
    from conftest import make_folder

    from coursehelpers.training.callbacks import KeepBNStats
    from coursehelpers.vision import ImageDataLoaders
    from coursehelpers.vision.learner import cnn_learner
    dls = ImageDataLoaders.from_folder(make_folder(tmp_path, n=4), size=32, bs=4, num_workers=0)
    learn = cnn_learner(dls, 'resnet18', pretrained=False, progress=False, cbs=[KeepBNStats()])
    learn.unfreeze()
    bn = torch.nn.modules.batchnorm._BatchNorm
    body = [m for m in learn.model.body.modules() if isinstance(m, bn)]
    head = [m for m in learn.model.head.modules() if isinstance(m, bn)]
    stats = [m.running_mean.clone() for m in body + head]
    weights = [m.weight.clone() for m in body]
    learn.fit(1e-2, 1)
    assert all(torch.equal(m.running_mean, s) for m, s in zip(body, stats))
    assert not any(torch.equal(m.running_mean, s) for m, s in zip(head, stats[len(body):]))
    assert any(not torch.equal(m.weight, w) for m, w in zip(body, weights))    # scale still trains


class Pickled:
    """A class in a checkpoint: loading it would need pickle, which can run code."""


def test_a_pickled_or_damaged_checkpoint_is_refused_with_what_to_do(tmp_path):
    from coursehelpers.training.checkpoint import load_checkpoint
    model = nn.Linear(2, 1)
    torch.save({'model': model.state_dict(), 'extra': Pickled()}, tmp_path / 'pickled.pth')
    with pytest.raises(ValueError, match='pickled Python objects') as e:
        load_checkpoint(tmp_path / 'pickled.pth', model)
    assert 'weights_only=False' not in str(e.value) and 'state_dict' in str(e.value)
    torch.save(model.state_dict(), tmp_path / 'good.pth')
    (tmp_path / 'cut.pth').write_bytes((tmp_path / 'good.pth').read_bytes()[:200])
    with pytest.raises(ValueError, match='cut short, damaged'):
        load_checkpoint(tmp_path / 'cut.pth', model)
