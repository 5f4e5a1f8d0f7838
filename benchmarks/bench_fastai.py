"""Lesson tasks against fastai, side by side: the same data, the same weights, the same recipe.

collab    MovieLens (lesson 05): the complete ml-latest-small and ONE seeded 20% random split
          (ours, `CollabDataLoaders.from_df(seed=42)`, handed to fastai as its `splits`).
          fastai as its docs and tutorial run it: `collab_learner(n_factors=50,
          y_range=(0, 5.5))`, bs 64, `fit_one_cycle(5, 5e-3, wd=0.1)`. Ours as lesson 05 runs
          it: `collab_learner(n_factors=50, y_range=(0, 5.5), l2=0.1)`, bs 2048,
          `fit_one_cycle(10, 1e-2)`. Target: our validation MSE <= fastai's, in <= 1/5 of its
          wall time.
dogscats  Dogs vs cats sample (300 train / 100 valid photos): EfficientNet-Lite0 with the same
          ImageNet weights in both (`imagenet_model('efficientnet_lite0')`, body cut as
          `create_cnn` cuts it); fastai gets `create_head(1280, 2)` initialised as
          `vision_learner` does, split into the same three groups. Both: 128 px (resize the
          shorter side, random crop; centre crop to validate), flip, rotate <= 10 degrees,
          zoom <= 1.1, lighting 0.1, normalise with mean 0.5 / std 0.5, bs 16, no loader worker
          processes, `fine_tune(1, base_lr=2e-3)` (each library's own). Ours as lesson 07 runs
          it (`cnn_learner(..., cbs=[KeepBNStats()])`; `--no-keep-bn` leaves that out, an
          ablation written to its own file). Target: accuracy within 0.01 of fastai's (or
          better), in no more wall time.
Wall time = building the loaders and the learner (weights included) + training, not reading
the CSV and not the final evaluation. Runs alternate (ours first in even pairs, fastai first in
odd ones), one seed per pair for both sides, one thread (`torch.set_num_threads(1)`, as the
lessons in quick mode); medians, and the wall-time ratio is taken pair by pair.
fastai is needed only here: `pip install -e '.[bench]'` (without it this script says so and
exits 0 without writing results). Progress bars are off on both sides.

    python benchmarks/bench_fastai.py [--tasks collab,dogscats] [--collab-pairs 3] [--cnn-pairs 3]
"""
import argparse
import statistics
import sys
import time
import warnings

import pandas as pd
import torch
from torch import nn

from coursehelpers import default_device, get_data, seed_everything
from coursehelpers.training.callbacks import KeepBNStats
from coursehelpers.collab import CollabDataLoaders, collab_learner
from coursehelpers.env.device import device_name
from coursehelpers.training.metrics import accuracy
from coursehelpers.vision import ImageDataLoaders, model_stats, side_on_tfms
from coursehelpers.vision.learner import cnn_learner
from coursehelpers.vision.models import ARCHS, imagenet_model

from common import load_average, save_result

ARCH = 'efficientnet_lite0'


def fastai_version():
    """fastai's version, or None when it is not installed. Imports the parts used here now,
    so that no side pays for an import inside its timing."""
    try:
        import fastai
        import fastai.collab  # noqa: F401
        import fastai.vision.all  # noqa: F401
    except ImportError:
        return None
    return fastai.__version__


def timed(fn, *args):
    """(seconds, fn(*args))."""
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


# ---- MovieLens ----

def seeded_split(ratings, valid_pct=0.2, seed=42):
    """(train indices, valid indices) of `ratings`: `CollabDataLoaders.from_df`'s split,
    checked against the loaders it builds (so both sides validate on the same ratings)."""
    order = torch.randperm(len(ratings), generator=torch.Generator().manual_seed(seed))
    n_valid = int(round(valid_pct * len(ratings)))
    train, valid = order[n_valid:].tolist(), order[:n_valid].sort().values.tolist()
    dls = CollabDataLoaders.from_df(ratings, valid_pct=valid_pct, seed=seed)
    users, _, y = dls.valid.dataset.tensors
    same = (len(y) == len(valid) and torch.equal(y, torch.tensor(
        ratings['rating'].values[valid], dtype=torch.float32)) and
        (dls.users.decode(users.numpy()) == ratings['userId'].values[valid]).all())
    if not same:
        raise RuntimeError('CollabDataLoaders.from_df no longer splits as seeded_split does: '
                           'update seeded_split so that fastai gets the same validation set.')
    return train, valid


def ours_collab(ratings):
    """Lesson 05's recipe; returns (trained learner, fit seconds)."""
    dls = CollabDataLoaders.from_df(ratings, valid_pct=0.2, seed=42, bs=2048)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5), l2=0.1)
    learn.progress = False
    fit_s, _ = timed(learn.fit_one_cycle, 10, 1e-2)
    return learn, fit_s


def ours_collab_mse(learn):
    preds, y = learn.get_preds('valid')
    return float(((preds.view(-1) - y.view(-1)) ** 2).mean())


def fastai_collab(ratings, splits):
    """fastai's tutorial recipe on our split; returns (trained learner, fit seconds)."""
    from fastai.collab import TabularCollab, collab_learner as fa_collab_learner
    from fastai.data.block import TransformBlock
    from fastai.tabular.core import Categorify
    to = TabularCollab(ratings, [Categorify], ['userId', 'movieId'], y_names=['rating'],
                       y_block=TransformBlock(), splits=splits)
    dls = to.dataloaders(bs=64)
    learn = fa_collab_learner(dls, n_factors=50, y_range=(0, 5.5))
    with learn.no_bar():
        fit_s, _ = timed(lambda: learn.fit_one_cycle(5, 5e-3, wd=0.1))
    return learn, fit_s


def fastai_collab_mse(learn):
    with learn.no_bar():
        preds, y = learn.get_preds()
    return float(((preds.view(-1) - y.view(-1)) ** 2).mean())


# ---- Dogs vs cats ----

def ours_cnn(path, size, bs, epochs, lr, keep_bn=True):
    """Lesson 07's recipe (`keep_bn=False`: without KeepBNStats); returns the trained learner."""
    dls = ImageDataLoaders.from_folder(path, size=size, bs=bs, tfms=side_on_tfms,
                                       stats=model_stats(ARCH), num_workers=0)
    cbs = [KeepBNStats()] if keep_bn else []
    learn = cnn_learner(dls, ARCH, metrics=[accuracy], cbs=cbs, progress=False)
    learn.fine_tune(epochs, base_lr=lr)
    return learn


def ours_cnn_accuracy(learn):
    preds, y = learn.get_preds('valid')
    return float(accuracy(preds, y))


def fastai_cnn(path, size, bs, epochs, lr):
    """The same weights, cut and augmentation in fastai's Learner; returns the trained learner."""
    from fastai.vision.all import (CrossEntropyLossFlat, ImageDataLoaders as FaImageDataLoaders,
                                   Learner as FaLearner, Normalize, Resize, accuracy as fa_accuracy,
                                   apply_init, aug_transforms, create_head, params)
    mean, std = model_stats(ARCH)
    dls = FaImageDataLoaders.from_folder(
        path, train='train', valid='valid', bs=bs, num_workers=0, item_tfms=Resize(size),
        batch_tfms=[*aug_transforms(max_lighting=0.1, max_warp=0.0, p_affine=1.0, p_lighting=1.0),
                    Normalize.from_stats(list(mean), list(std))])
    full = imagenet_model(ARCH)
    body = nn.Sequential(full.conv_stem, full.bn1, *full.blocks, full.conv_head, full.bn2)
    head = create_head(ARCHS[ARCH][1], dls.c)
    apply_init(head, nn.init.kaiming_normal_)                  # as fastai's vision_learner
    model, split = nn.Sequential(body, head), ARCHS[ARCH][2]
    learn = FaLearner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=fa_accuracy,
                      splitter=lambda m: [params(m[0][:split]), params(m[0][split:]), params(m[1])])
    with learn.no_bar():
        learn.fine_tune(epochs, base_lr=lr)
    return learn


def fastai_cnn_accuracy(learn):
    with learn.no_bar():
        preds, y = learn.get_preds()
    return float((preds.argmax(1) == y).float().mean())


# ---- running both sides ----

def alternate(pairs, sides):
    """Run `sides` = {name: (run, score)} alternately, `pairs` times, one seed per pair.

    `run()` returns (learner, fit seconds or None) and is timed as a whole; `score(learner)`
    is not timed. Returns {name: {'wall_s': [...], 'fit_s': [...], 'score': [...]}}.
    """
    out = {name: {'wall_s': [], 'fit_s': [], 'score': []} for name in sides}
    for i in range(pairs):
        for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
            run, score = sides[name]
            seed_everything(i)
            wall, (learn, fit_s) = timed(run)
            out[name]['wall_s'].append(wall)
            out[name]['fit_s'].append(fit_s if fit_s is not None else wall)
            out[name]['score'].append(score(learn))
            print(f'pair {i + 1}: {name:7s} score {out[name]["score"][-1]:.4f}, '
                  f'wall {wall:6.1f} s, load average {load_average()}', flush=True)
    return out


def summary(runs):
    """Medians of each side, and the wall-time ratio ours / fastai pair by pair."""
    ratios = [o / f for o, f in zip(runs['ours']['wall_s'], runs['fastai']['wall_s'])]
    res = {name: {**r, 'score_median': statistics.median(r['score']),
                  'wall_s_median': statistics.median(r['wall_s']),
                  'fit_s_median': statistics.median(r['fit_s'])} for name, r in runs.items()}
    res.update(wall_ratio_median=statistics.median(ratios), wall_ratio_min=min(ratios),
               wall_ratio_max=max(ratios), wall_ratios=ratios)
    return res


def collab_task(args):
    ratings = pd.read_csv(get_data('ml-latest-small', verbose=False) / 'ratings.csv')
    ratings = ratings[['userId', 'movieId', 'rating']]
    splits = seeded_split(ratings)
    sides = {'ours': (lambda: ours_collab(ratings), ours_collab_mse),
             'fastai': (lambda: fastai_collab(ratings, splits), fastai_collab_mse)}
    r = summary(alternate(args.collab_pairs, sides))
    r.update(benchmark='fastai_collab', what='MovieLens (lesson 05) against fastai collab_learner',
             metric='validation MSE (lower is better)',
             data=f'ml-latest-small, {len(ratings)} ratings, seeded 20% split '
                  f'({len(splits[1])} valid)',
             ours_recipe='collab_learner(n_factors=50, y_range=(0, 5.5), l2=0.1), bs 2048, '
                         'fit_one_cycle(10, 1e-2)',
             fastai_recipe='collab_learner(n_factors=50, y_range=(0, 5.5)), bs 64, '
                           'fit_one_cycle(5, 5e-3, wd=0.1)',
             targets={'mse': 'MSE <= fastai', 'wall_time': 'wall time <= 0.2x fastai'})
    r['targets_met'] = {'mse': r['ours']['score_median'] <= r['fastai']['score_median'],
                        'wall_time': r['wall_ratio_median'] <= 0.2}
    return r


def dogscats_task(args):
    path = get_data('dogscats', 'sample', verbose=False)
    recipe = (path, args.size, args.bs, args.epochs, args.lr)
    sides = {'ours': (lambda: (ours_cnn(*recipe, keep_bn=not args.no_keep_bn), None),
                      ours_cnn_accuracy),
             'fastai': (lambda: (fastai_cnn(*recipe), None), fastai_cnn_accuracy)}
    r = summary(alternate(args.cnn_pairs, sides))
    cbs = '[]' if args.no_keep_bn else '[KeepBNStats()]'
    r.update(benchmark='fastai_dogscats' + ('_without_keepbnstats' if args.no_keep_bn else ''),
             what='Dogs vs cats, EfficientNet-Lite0 fine_tune, against fastai'
                  + (' (ours without KeepBNStats)' if args.no_keep_bn else ''),
             metric='validation accuracy (higher is better)',
             data='dogs-vs-cats sample, 300 train / 100 valid photos',
             arch=ARCH, size=args.size, bs=args.bs, epochs=args.epochs, base_lr=args.lr,
             ours_recipe=f'cnn_learner(cbs={cbs}), side_on_tfms, '
                         f'fine_tune({args.epochs}, base_lr={args.lr})',
             fastai_recipe=f'Learner(body + create_head), aug_transforms(max_lighting=0.1, '
                           f'max_warp=0, p_affine=1, p_lighting=1), fine_tune({args.epochs}, '
                           f'base_lr={args.lr})',
             targets={'accuracy': 'accuracy >= fastai - 0.01',
                      'wall_time': 'wall time <= 1.0x fastai'})
    r['targets_met'] = {'accuracy': r['ours']['score_median'] >= r['fastai']['score_median'] - 0.01,
                        'wall_time': r['wall_ratio_median'] <= 1.0}
    return r


TASKS = {'collab': collab_task, 'dogscats': dogscats_task}



def report(r):
    """Print one task's medians and whether each target is met."""
    o, f = r['ours'], r['fastai']
    print(f"{r['benchmark']}: {r['metric']}: ours {o['score_median']:.4f}, fastai "
          f"{f['score_median']:.4f}; wall time ours {o['wall_s_median']:.1f} s, fastai "
          f"{f['wall_s_median']:.1f} s, ratio {r['wall_ratio_median']:.3f} (min "
          f"{r['wall_ratio_min']:.3f}, max {r['wall_ratio_max']:.3f}); load average {load_average()}")
    for name, met in r['targets_met'].items():
        print(f"  target {r['targets'][name]} (medians; wall time: median of the pair ratios): "
              f"{'met' if met else 'MISSED'}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--tasks', default=','.join(TASKS), help=f'any of {",".join(TASKS)}')
    p.add_argument('--collab-pairs', type=int, default=3)
    p.add_argument('--cnn-pairs', type=int, default=3)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--bs', type=int, default=16)
    p.add_argument('--epochs', type=int, default=1, help='dogscats: epochs after the frozen one')
    p.add_argument('--lr', type=float, default=2e-3, help='dogscats: base_lr of fine_tune')
    p.add_argument('--no-keep-bn', action='store_true',
                   help="dogscats: ours without lesson 07's KeepBNStats (an ablation)")
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default='benchmarks/results')
    args = p.parse_args(argv)
    version = fastai_version()
    if version is None:
        print('fastai is not installed, so there is nothing to compare against. It is needed only '
              "for this benchmark: pip install -e '.[bench]' (or make bench, which installs it).")
        return 0
    names = [t.strip() for t in args.tasks.split(',') if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        p.error(f'unknown task(s) {unknown}: choose from {",".join(TASKS)}')
    torch.set_num_threads(args.threads)
    warnings.simplefilter('ignore', UserWarning)
    for name in names:
        load_before = load_average()
        r = TASKS[name](args)
        r.update(fastai_version=version, torch_version=torch.__version__,
                 device=device_name(), threads=torch.get_num_threads(),
                 load_avg_before=load_before, load_avg_after=load_average())
        r['target_met'] = all(r['targets_met'].values())
        report(r)
        save_result(args.out, f"{r['benchmark']}_{default_device().type}.json", r)
    return 0            # a missed target is reported above, not an error: `make bench` goes on


if __name__ == '__main__':
    sys.exit(main())
