"""How much of the device's speed the data path lets a lesson use (lessons 01 and 02, full mode).

For each setting, the same training steps (the Learner's `one_batch`, resnet34 unfrozen, the
lesson's full-mode image size and batch size) are timed two ways, alternating round by round:
- `end_to_end`: batches straight from the lesson's loader (reading, decoding, resizing,
  augmenting: on a GPU `ImageDataLoaders` decodes and augments there, see
  `vision/device_decode.py`);
- `resident`: the same number of steps on a few batches taken from that loader beforehand
  and kept in device memory (no data path at all).
Efficiency = end-to-end images/s divided by resident images/s (1.0: the data path costs
nothing). The goal on a GPU is at least 0.8 in both settings; on a CPU the network's own work
dominates and the number is reported, not judged.

Settings: lesson 01 (dogs vs cats folders, 224 px, batch 64, side-on augmentation) and lesson 02
(Planet chips from `train_v2.csv`, 256 px, batch 64, top-down augmentation, `in_memory=True`
as the lesson asks: at full size its 40,479 chips exceed the 4 GB in-memory limit, so they are
read per batch, as in the lesson). The data are the full sets if present, else stand-ins
(`python -m coursehelpers data standin`, made here at `--scale` when missing: their file sizes
and formats are the full sets'). Random weights: the speed is the same as pretrained.

    python benchmarks/bench_loader_efficiency.py [--steps 30] [--warmup 5] [--pairs 2]
        [--scale 0.02] [--settings 01 02] [--out benchmarks/results]
"""
import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault('COURSE_MODE', 'full')
os.environ.setdefault('COURSE_PRETRAINED', '0')

import torch  # noqa: E402

from coursehelpers import get_data, seed_everything  # noqa: E402
from coursehelpers.datasets.registry import source  # noqa: E402
from coursehelpers.datasets.standins import make_standin  # noqa: E402
from coursehelpers.env.device import default_device, device_name  # noqa: E402
from coursehelpers.env.paths import data_root  # noqa: E402
from coursehelpers.vision import (ImageDataLoaders, model_stats, side_on_tfms,  # noqa: E402
                                  top_down_tfms)
from coursehelpers.vision.learner import cnn_learner  # noqa: E402

from common import load_average, save_result  # noqa: E402

ARCH = 'resnet34'


def dogscats(bs):
    path = get_data('dogscats')
    return ImageDataLoaders.from_folder(path, size=224, bs=bs, tfms=side_on_tfms,
                                        stats=model_stats(ARCH))


def planet(bs):
    path = get_data('planet')
    return ImageDataLoaders.from_csv(path, csv='train_v2.csv', folder='train-jpg', suffix='.jpg',
                                     label_delim=' ', valid_pct=0.2, seed=42, size=256, bs=bs,
                                     tfms=top_down_tfms, stats=model_stats(ARCH), in_memory=True)


SETTINGS = {'01': ('dogscats', dogscats, 'lesson 01: resnet34, 224 px, folders'),
            '02': ('planet', planet, 'lesson 02: resnet34, 256 px, Planet chips')}


def sync():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def batches(loader, n):
    """`n` batches from `loader`, cycling through it as often as needed."""
    while True:
        for b in loader:
            yield b
            n -= 1
            if n == 0:
                return


def timed_steps(learn, source_batches, warmup, steps):
    """Images per second over `steps` training steps after `warmup` untimed ones."""
    it = iter(source_batches)
    for _ in range(warmup):
        learn.one_batch(next(it))
    sync()
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        batch = next(it)
        learn.one_batch(batch)
        images += len(batch[-1])
    sync()
    return images / (time.perf_counter() - start)


def measure(key, bs, warmup, steps, pairs):
    name, make, what = SETTINGS[key]
    seed_everything(42)
    dls = make(bs)
    learn = cnn_learner(dls, ARCH, metrics=[], progress=False)
    learn.unfreeze()
    device = learn.device
    kept = [tuple(t.to(device) for t in b) for b in batches(dls.train, min(4, len(dls.train)))]
    ends, residents = [], []
    for _ in range(pairs):
        ends.append(timed_steps(learn, batches(dls.train, warmup + steps), warmup, steps))
        residents.append(timed_steps(learn, batches(kept, warmup + steps), warmup, steps))
    ratios = [e / r for e, r in zip(ends, residents)]
    loader = type(dls.train).__name__
    what = f'{what}, batch {bs}'
    row = {'setting': key, 'what': what, 'data': name, 'loader': loader,
           'workers': getattr(dls, 'num_workers', None), 'batch_size': bs, 'steps': steps,
           'warmup': warmup, 'pairs': pairs,
           'end_to_end_images_s': [round(v, 2) for v in ends],
           'resident_images_s': [round(v, 2) for v in residents],
           'efficiency_median': round(statistics.median(ratios), 3)}
    print(f"{what}: {loader}, end to end {statistics.median(ends):.1f} images/s, resident "
          f"{statistics.median(residents):.1f} images/s, efficiency "
          f"{row['efficiency_median']:.2f}", flush=True)
    return row


def ensure_data(key, scale):
    """Make a stand-in of the full data set for `key` unless the full set (or one) is there."""
    name = SETTINGS[key][0]
    if not (data_root() / source(name, 'full')[1].folder).exists():
        make_standin(name, scale=scale)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpu = torch.cuda.is_available()
    parser.add_argument('--steps', type=int, default=30 if gpu else 3)
    parser.add_argument('--warmup', type=int, default=5 if gpu else 1)
    parser.add_argument('--pairs', type=int, default=2)
    parser.add_argument('--bs', type=int, default=64)
    parser.add_argument('--scale', type=float, default=0.02)
    parser.add_argument('--settings', nargs='*', default=list(SETTINGS))
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore', UserWarning)
    warnings.simplefilter('ignore', DeprecationWarning)
    load_before = load_average()
    rows = []
    for key in args.settings:
        ensure_data(key, args.scale)
        rows.append(measure(key, args.bs, args.warmup, args.steps, args.pairs))
    device = default_device()
    result = {'benchmark': 'loader_efficiency', 'device': device_name(device),
              'device_type': device.type, 'cpu_count': os.cpu_count(), 'settings': rows,
              'target': 0.8 if device.type == 'cuda' else None,
              'target_met': (all(r['efficiency_median'] >= 0.8 for r in rows)
                             if device.type == 'cuda' else None),
              'load_avg_before': load_before, 'load_avg_after': load_average()}
    if device.type == 'cuda':
        print(f"efficiency >= 0.8 in every setting: {'met' if result['target_met'] else 'MISSED'}")
    else:
        print('on the CPU the network dominates; the efficiency is reported, not judged')
    save_result(args.out, f'loader_efficiency_{device.type}.json', result)
    return result


if __name__ == '__main__':
    main()
