"""The Learner's training loop against a hand-written PyTorch loop, side by side, per lesson model.

Four cases, each the model and data of a lesson (`--models cnn,tabular,collab,rnn`):
  cnn      EfficientNet-Lite0 + head on the dogs-vs-cats sample (decoded once into tensors,
           so only the loop is measured), `fit(1e-4, 1)`, as before
  tabular  lesson 03's entity-embedding model on the Rossmann sample through lesson 03's
           preprocessing (joins, date parts, events), `fit_one_cycle(6, 3e-3)`, wd 0.1, bs 128
  collab   lesson 05's dot product with biases on the complete ml-latest-small, through
           `collab_learner(l2=0.1)`, `fit_one_cycle(10, 1e-2)`, bs 2048
  rnn      lesson 06's stateful character LSTM (bs 64, bptt 40) through `rnn_learner`, on the
           first 150,000 characters of nietzsche.txt (`--chars 0`: all of it, about 30 s per
           run); the hand loop carries the hidden state itself and detaches it
Both sides get the same starting weights, loaders, batch size, epochs, optimizer (AdamW with
the lesson's weight decay), schedule (one-cycle via torch's OneCycleLR in the hand loop) and
per-epoch validation (loss, and the lesson's metric). The Learner runs without progress
bars (`--progress` turns them on). Runs alternate, the first side swapping every pair, and
the throughput ratio (Learner / hand, samples per second) is computed pair by pair, so a
noisy machine moves both sides of a pair together; the same ratio in CPU time of the process
is kept as a diagnostic. Target: Learner >= 0.9x the hand loop (median of the pairs).
One thread (`torch.set_num_threads(1)`): on a shared 2-core machine more threads measure
contention, not the loop.

    python benchmarks/bench_learner.py [--models cnn,tabular,collab,rnn] [--pairs 7]
                                       [--chars 150000] [--out benchmarks/results]
"""
import argparse
import copy
import statistics
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers import DataLoaders, Learner, accuracy, default_device, get_data, seed_everything
from coursehelpers.collab import CollabDataLoaders, EmbeddingDotBias, collab_learner, mse
from coursehelpers.env.device import autocast, device_name, grad_scaler
from coursehelpers.text.char_rnn import CharDataLoaders, CharRNN, rnn_learner, seq_cross_entropy
from coursehelpers.tabular import (TabularModel, TabularProc, add_datepart, add_elapsed,
                                   add_rolling, exp_rmspe, join_df, months_since, parse_dates,
                                   tabular_dls, time_split, weeks_since)
from coursehelpers.vision import ImageDataLoaders, create_cnn, model_stats

from common import load_average, save_result

TARGET = 0.9


class Case:
    """One lesson's model and data, and how each side trains it.

    `learner(model)` and `hand(model)` train a copy of `model` for `epochs` epochs;
    `samples` is the number of training samples (images, rows, ratings, characters) per run.
    """

    def __init__(self, name, what, model, dls, samples, learner, hand, settings):
        self.name, self.what, self.model, self.dls = name, what, model, dls
        self.samples, self.learner, self.hand, self.settings = samples, learner, hand, settings


# ---- the hand-written loops ----

def one_cycle_scheduler(opt, lr, total_steps):
    """torch's OneCycleLR shaped like `Learner.fit_one_cycle`: lr/25 -> lr (first 25%) -> lr/1e5."""
    return torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=total_steps, pct_start=0.25,
                                               div_factor=25.0, final_div_factor=1e5 / 25.0,
                                               cycle_momentum=False)


def hand_loop(model, dls, loss_fn, metric, lr, epochs, wd, one_cycle=True, penalty=None):
    """The plain PyTorch loop: train, then validation loss and `metric`, each epoch.

    Batches are `(inputs..., target)`; `penalty(model, inputs)` (if given) is added to the
    loss. Returns the last epoch's (validation loss, metric).
    """
    device = default_device()
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    sched = one_cycle_scheduler(opt, lr, epochs * len(dls.train)) if one_cycle else None
    scaler = grad_scaler(device)
    for _ in range(epochs):
        model.train()
        for *xb, y in dls.train:
            xb = [x.to(device, non_blocking=True) for x in xb]
            y = y.to(device, non_blocking=True)
            with autocast(device):
                loss = loss_fn(model(*xb), y)
                if penalty is not None:
                    loss = loss + penalty(model, xb)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            if sched is not None:
                sched.step()
        model.eval()
        with torch.no_grad():
            outs, ys = [], []
            for *xb, y in dls.valid:
                with autocast(device):
                    outs.append(model(*[x.to(device, non_blocking=True) for x in xb]).float())
                ys.append(y.to(device, non_blocking=True))
            out, y = torch.cat(outs), torch.cat(ys)
            valid_loss, score = loss_fn(out, y).item(), metric(out, y)
    _sync(device)
    return valid_loss, score


def hand_rnn_loop(model, dls, lr, epochs, wd):
    """The plain truncated-BPTT loop for a `CharRNN`, written out: the loop itself keeps the
    hidden state `h`, carries it from one window to the next and detaches it after each;
    it starts from zeros every epoch and for validation. Returns the last validation loss."""
    device = default_device()
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    sched = one_cycle_scheduler(opt, lr, epochs * len(dls.train))
    scaler = grad_scaler(device)
    for _ in range(epochs):
        model.train()
        h = None
        for x, y in dls.train:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device):
                out, h = model.rnn(model.emb(x), h)
                h = tuple(t.detach() for t in h)            # keep the history, stop the gradient
                loss = seq_cross_entropy(model.out(model.drop(out)), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
        model.eval()
        h, losses, sizes = None, [], []
        with torch.no_grad():
            for x, y in dls.valid:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with autocast(device):
                    out, h = model.rnn(model.emb(x), h)
                    losses.append(seq_cross_entropy(model.out(out), y).float())
                sizes.append(len(y))
        weights = torch.tensor(sizes, device=device)
        valid_loss = (torch.stack(losses) * weights).sum().item() / sum(sizes)
    _sync(device)
    return valid_loss


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def _fit(learn, epochs, lr, one_cycle=True):
    """Train `learn` as the lesson does (`fit_one_cycle`, or `fit` at a constant rate)."""
    if one_cycle:
        learn.fit_one_cycle(epochs, lr)
    else:
        learn.fit(lr, epochs)
    _sync(learn.device)


# ---- the four cases ----

def cnn_case(args):
    """EfficientNet-Lite0 (all layers train) on `--n` decoded dogs-vs-cats images, fit(1e-4)."""
    dls = ImageDataLoaders.from_folder(get_data('dogscats', 'sample', verbose=False),
                                       size=args.size, bs=args.bs, tfms=None,
                                       stats=model_stats('efficientnet_lite0'))
    tensors = {}
    for split in ('train', 'valid'):
        xs, ys = zip(*dls.loader(split))
        tensors[split] = TensorDataset(torch.cat(xs)[:args.n], torch.cat(ys)[:args.n])
    pin = torch.cuda.is_available()
    data = DataLoaders(DataLoader(tensors['train'], args.bs, shuffle=True, drop_last=True,
                                  pin_memory=pin),
                       DataLoader(tensors['valid'], args.bs, pin_memory=pin))
    epochs, lr = args.epochs or 1, 1e-4

    def learner(model):
        learn = Learner(model, data, nn.CrossEntropyLoss(), metrics=[accuracy],
                        progress=args.progress, layer_groups=[model])
        _fit(learn, epochs, lr, one_cycle=False)

    def hand(model):
        hand_loop(model, data, nn.CrossEntropyLoss(),
                  lambda out, y: (out.argmax(1) == y).float().mean().item(), lr, epochs, wd=0.01,
                  one_cycle=False)

    return Case('cnn', 'efficientnet_lite0 (all layers train), dogs-vs-cats sample',
                create_cnn('efficientnet_lite0', 2), data, len(data.train) * args.bs * epochs,
                learner, hand, {'size': args.size, 'bs': args.bs, 'epochs': epochs, 'lr': lr,
                                'schedule': 'constant'})


CAT_VARS = ['Store', 'DayOfWeek', 'Year', 'Month', 'Day', 'StateHoliday', 'CompetitionMonthsOpen',
            'Promo2Weeks', 'StoreType', 'Assortment', 'PromoInterval', 'CompetitionOpenSinceYear',
            'Promo2SinceYear', 'State', 'Week', 'Events', 'Promo_fw', 'Promo_bw',
            'StateHoliday_fw', 'StateHoliday_bw', 'SchoolHoliday_fw', 'SchoolHoliday_bw']
CONT_VARS = ['CompetitionDistance', 'Max_TemperatureC', 'Mean_TemperatureC', 'Min_TemperatureC',
             'Max_Humidity', 'Mean_Humidity', 'Min_Humidity', 'Max_Wind_SpeedKm_h',
             'Mean_Wind_SpeedKm_h', 'CloudCover', 'trend', 'trend_DE', 'AfterPromo', 'BeforePromo',
             'AfterSchoolHoliday', 'BeforeSchoolHoliday', 'AfterStateHoliday',
             'BeforeStateHoliday', 'Promo', 'SchoolHoliday']


def rossmann_joined(path):
    """Lesson 03's joined and engineered table (train and test rows, column `split`), as its
    cells `clean`, `join_all`, `event_features` and `add_features` build it."""
    t = {n: pd.read_csv(path / f'{n}.csv', low_memory=False) for n in
         ['train', 'store', 'store_states', 'state_names', 'googletrend', 'weather', 'test']}
    train, test = t['train'].copy(), t['test'].copy()
    for df in (train, test):
        df['StateHoliday'] = df['StateHoliday'].astype(str) != '0'
    weather = join_df(t['weather'], t['state_names'], 'file', 'StateName')
    trend = t['googletrend'].copy()
    trend['Date'] = trend['week'].str.split(' - ').str[0]
    trend['State'] = trend['file'].str.split('_').str[2].replace('NI', 'HB,NI')
    trend = add_datepart(trend, 'Date', drop=False)
    trend_de = trend.loc[trend['file'] == 'Rossmann_DE', ['Year', 'Week', 'trend']]
    trend = trend[trend['State'].notna()]
    weather['Date'] = parse_dates(weather, 'Date')
    train, test = (add_datepart(df, 'Date', drop=False) for df in (train, test))
    fields = ['SchoolHoliday', 'StateHoliday', 'Promo']
    events = pd.concat([train[['Store', 'Date', *fields]], test[['Store', 'Date', *fields]]],
                       ignore_index=True)
    for f in fields:
        events = add_elapsed(events, f)
    events = add_rolling(events, fields).drop(columns=fields)
    store = join_df(t['store'], t['store_states'], 'Store')
    parts = []
    for df in (train, test):
        df = join_df(join_df(join_df(join_df(df, store, 'Store'), trend, ['State', 'Year', 'Week']),
                             trend_de, ['Year', 'Week'], suffix='_DE'), weather, ['State', 'Date'])
        df['CompetitionMonthsOpen'] = months_since(df['CompetitionOpenSinceYear'],
                                                   df['CompetitionOpenSinceMonth'], df['Date'])
        df['Promo2Weeks'] = weeks_since(df['Promo2SinceYear'], df['Promo2SinceWeek'], df['Date'])
        parts.append(df.merge(events, on=['Store', 'Date'], how='left'))
    return pd.concat(parts, keys=['train', 'test'], names=['split']).reset_index(0)


def tabular_case(args):
    """Lesson 03 (quick mode): the last day validates, bs 128, fit_one_cycle(6, 3e-3), wd 0.1."""
    joined = rossmann_joined(get_data('rossmann', 'sample', verbose=False))
    train_df = joined[(joined.split == 'train') & (joined.Sales > 0)].reset_index(drop=True)
    train_df['LogSales'] = np.log(train_df['Sales'])
    is_valid = time_split(train_df['Date'], 1)
    trn, val = train_df[~is_valid], train_df[is_valid]
    proc = TabularProc(CAT_VARS, CONT_VARS).fit(trn)
    data = tabular_dls(proc, trn, val, 'LogSales', bs=128)
    y_range = (0, 1.2 * float(train_df['LogSales'].max()))
    model = TabularModel(proc.emb_sizes(), len(proc.conts), layers=(1000, 500), ps=(0.001, 0.01),
                         emb_drop=0.04, y_range=y_range)
    epochs, lr, wd = args.epochs or 6, 3e-3, 0.1                    # lesson 03's quick mode

    def learner(model):
        learn = Learner(model, data, loss_func=nn.MSELoss(), metrics=[exp_rmspe], wd=wd,
                        progress=args.progress)
        _fit(learn, epochs, lr)

    def hand(model):
        hand_loop(model, data, nn.MSELoss(), exp_rmspe, lr, epochs, wd)

    samples = len(data.train) * 128 if data.train.drop_last else len(data.train.dataset)
    return Case('tabular', f'TabularModel (1000, 500), Rossmann sample via lesson 03 '
                f'({len(trn)} train / {len(val)} valid rows)', model, data, samples * epochs,
                learner, hand, {'bs': 128, 'epochs': epochs, 'lr': lr, 'wd': wd,
                                'schedule': 'one_cycle'})


def collab_case(args):
    """Lesson 05: seeded 20% split, bs 2048, collab_learner(n_factors=50, l2=0.1),
    fit_one_cycle(10, 1e-2)."""
    ratings = pd.read_csv(get_data('ml-latest-small', verbose=False) / 'ratings.csv')
    data = CollabDataLoaders.from_df(ratings, valid_pct=0.2, seed=42, bs=2048)
    model = EmbeddingDotBias(len(data.users), len(data.items), 50, y_range=(0, 5.5))
    epochs, lr, l2 = args.epochs or 10, 1e-2, 0.1                   # lesson 05's schedule

    def learner(model):
        learn = collab_learner(data, n_factors=50, y_range=(0, 5.5), l2=l2)   # as lesson 05
        learn.model.load_state_dict(model.state_dict())                    # the shared start
        learn.progress = args.progress
        _fit(learn, epochs, lr)

    def penalty(model, xb):                        # lesson 05's EmbeddingL2, written out
        users, items = xb
        return l2 * (model.u(users).pow(2).sum(1).mean() + model.i(items).pow(2).sum(1).mean()
                     + model.ub(users).pow(2).mean() + model.ib(items).pow(2).mean())

    def hand(model):
        hand_loop(model, data, nn.MSELoss(), mse, lr, epochs, wd=0.0, penalty=penalty)

    return Case('collab',
                f'EmbeddingDotBias (50 factors), ml-latest-small ({len(ratings)} ratings)', model,
                data, len(data.train.dataset) * epochs, learner, hand,
                {'bs': 2048, 'epochs': epochs, 'lr': lr, 'l2': l2, 'wd': 0.0,
                 'schedule': 'one_cycle'})


def rnn_case(args):
    """Lesson 06: stateful 1-layer LSTM (n_emb 42, n_hidden 256), bs 64, bptt 40, lr 1e-2,
    on the first `--chars` characters of nietzsche.txt (0: all of it; the last 10% validate)."""
    text = (get_data('nietzsche', verbose=False) / 'nietzsche.txt').read_text()
    text = text[:args.chars] if args.chars else text
    data = CharDataLoaders.from_text(text, valid_pct=0.1, bs=64, bptt=40)
    model = CharRNN(len(data.vocab), n_emb=42, n_hidden=256, cell='lstm')
    epochs, lr, wd = args.epochs or 1, 1e-2, 0.01

    def learner(model):
        model.reset()
        learn = rnn_learner(data, model, progress=args.progress)
        _fit(learn, epochs, lr)

    def hand(model):
        hand_rnn_loop(model, data, lr, epochs, wd)

    return Case('rnn', f'CharRNN stateful LSTM (256 hidden), nietzsche ({len(text)} characters)',
                model, data, data.train.x.numel() * epochs, learner, hand,
                {'bs': 64, 'bptt': 40, 'epochs': epochs, 'lr': lr, 'wd': wd,
                 'schedule': 'one_cycle'})


CASES = {'cnn': cnn_case, 'tabular': tabular_case, 'collab': collab_case, 'rnn': rnn_case}


# ---- measuring ----

def timed(fn, model):
    """(wall seconds, CPU seconds of this process) of `fn(model)`."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(model)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(case, pairs, progress=False):
    """Warm both sides up once, then `pairs` alternating pairs from the same starting weights
    and the same seed per pair (same shuffles); returns the result dict."""
    sides = {'learner': case.learner, 'hand': case.hand}
    for fn in sides.values():
        timed(fn, copy.deepcopy(case.model))                          # warm-up, not counted
    load_before, speeds, ratios, cpu_ratios = load_average(), {'learner': [], 'hand': []}, [], []
    for i in range(pairs):
        wall, cpu = {}, {}
        for name in (('learner', 'hand') if i % 2 == 0 else ('hand', 'learner')):
            seed_everything(i)
            wall[name], cpu[name] = timed(sides[name], copy.deepcopy(case.model))
        for name in sides:
            speeds[name].append(case.samples / wall[name])
        ratios.append(wall['hand'] / wall['learner'])         # Learner throughput / hand throughput
        cpu_ratios.append(cpu['hand'] / cpu['learner'])       # the same in CPU time (diagnostic)
        print(f"{case.name} pair {i + 1}: learner {speeds['learner'][-1]:.1f}/s, "
              f"hand {speeds['hand'][-1]:.1f}/s, ratio {ratios[-1]:.3f} "
              f"(CPU time {cpu_ratios[-1]:.3f})", flush=True)
    result = {'benchmark': 'learner_vs_hand_loop', 'case': case.name, 'model': case.what,
              'device': device_name(), 'threads': torch.get_num_threads(), **case.settings,
              'samples_per_run': case.samples, 'progress_bars': progress,
              'learner_per_s': statistics.median(speeds['learner']),
              'hand_per_s': statistics.median(speeds['hand']),
              'ratio_median': statistics.median(ratios), 'ratio_min': min(ratios),
              'ratio_max': max(ratios), 'ratios': ratios, 'pairs': pairs, 'target': TARGET,
              'cpu_time_ratio_median': statistics.median(cpu_ratios),
              'load_avg_before': load_before, 'load_avg_after': load_average()}
    result['target_met'] = result['ratio_median'] >= TARGET
    return result



def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', default=','.join(CASES), help=f'any of {",".join(CASES)}')
    p.add_argument('--pairs', type=int, default=7)
    p.add_argument('--epochs', type=int, default=0, help='epochs per run (0: the case default)')
    p.add_argument('--size', type=int, default=128, help='cnn: image size')
    p.add_argument('--bs', type=int, default=32, help='cnn: batch size')
    p.add_argument('--n', type=int, default=96, help='cnn: training images per epoch')
    p.add_argument('--chars', type=int, default=150_000,
                   help='rnn: the first characters of nietzsche.txt to use (0: all 600,901)')
    p.add_argument('--progress', action='store_true', help="show the Learner's progress bars")
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default='benchmarks/results')
    args = p.parse_args(argv)
    names = [m.strip() for m in args.models.split(',') if m.strip()]
    unknown = [m for m in names if m not in CASES]
    if unknown:
        p.error(f'unknown model(s) {unknown}: choose from {",".join(CASES)}')
    torch.set_num_threads(args.threads)
    missed = []
    for name in names:
        seed_everything(0)
        case = CASES[name](args)
        r = measure(case, args.pairs, args.progress)
        print(f"{name}: Learner / hand-written throughput: median {r['ratio_median']:.3f} "
              f"(min {r['ratio_min']:.3f}, max {r['ratio_max']:.3f}) over {args.pairs} pairs, "
              f"in CPU time {r['cpu_time_ratio_median']:.3f}; load average {r['load_avg_after']}; "
              f"target >= {TARGET}: {'met' if r['target_met'] else 'MISSED'}", flush=True)
        save_result(args.out, f'learner_vs_hand_{name}_{default_device().type}.json', r)
        missed += [] if r['target_met'] else [name]
    if missed:
        print(f'target MISSED for: {", ".join(missed)}')
    return 0            # a missed target is reported above, not an error: `make bench` goes on


if __name__ == '__main__':
    sys.exit(main())
