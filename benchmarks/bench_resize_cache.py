"""The resize cache against decoding the 256-pixel originals, side by side (lesson 02).

Training at 64 pixels on the Planet sample, three ways:
- `cache`: what lesson 02 does: the copies `resize_images` wrote (shorter side 83 px),
  decoded once into memory, each mini-batch augmented as a whole (`in_memory=True`);
- `cache_per_image`: the same copies read and augmented one image at a time each epoch;
- `originals`: every 256 x 256 CMYK JPEG decoded and augmented one image at a time each epoch.
Everything else is the same: labels, split, kinds and amounts of augmentation, batch size, the
frozen EfficientNet-Lite0 and its head, the Learner. Each side fits 2 epochs and we time the
SECOND one (the cache exists, the loaders are warm); runs alternate within each round and the
ratios are taken round by round, so a busy machine slows every side of a round together. Also
timed: one pass over the training and validation loaders alone (no network); the in-memory
epoch minus that pass is the network's share. Target: `cache` second epoch >= 2x faster than
`originals`.

    python benchmarks/bench_resize_cache.py [--pairs 3] [--size 64] [--out benchmarks/results]
"""
import argparse
import os
import statistics
import time
import warnings

from coursehelpers import data_root, get_data, seed_everything
from coursehelpers.env.device import device_name
from coursehelpers.vision import ImageDataLoaders, model_stats, resize_images, top_down_tfms
from coursehelpers.vision.learner import cnn_learner

from common import load_average, save_result

ARCH = 'efficientnet_lite0'


def loaders(path, folder, size, bs, in_memory=False):
    """Planet loaders reading images from `folder` (the originals or a resize cache)."""
    return ImageDataLoaders.from_csv(path, csv='train_v2.csv', folder=folder, suffix='.jpg',
                                     label_delim=' ', valid_pct=0.2, seed=42, size=size, bs=bs,
                                     tfms=top_down_tfms, stats=model_stats(ARCH),
                                     in_memory=in_memory)


def second_epoch(dls):
    """Seconds of the second of two training epochs (frozen body, head trained, validated)."""
    learn = cnn_learner(dls, ARCH, metrics=[], progress=False, path=data_root() / 'models')
    learn.fit(1e-3, 2)
    return float(learn.history['time'].iloc[1])


def loader_pass(dls):
    """Seconds to iterate the training and validation loaders once (no network)."""
    start = time.perf_counter()
    for loader in (dls.train, dls.valid):
        for _ in loader:
            pass
    return time.perf_counter() - start


def median_ratio(num, den):
    """The median of the round-by-round ratios num / den, and the ratios."""
    ratios = [a / b for a, b in zip(num, den)]
    return statistics.median(ratios), ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pairs', type=int, default=3)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--bs', type=int, default=64)
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args(argv)
    seed_everything(42)
    warnings.simplefilter('ignore', UserWarning)
    path = get_data('planet', 'sample')
    cache = resize_images(path / 'train-jpg', args.size, dest=data_root() / 'planet_resized')
    start = time.perf_counter()
    sides = {'cache': loaders(path, cache, args.size, args.bs, in_memory=True)}
    decode_once = time.perf_counter() - start
    sides['cache_per_image'] = loaders(path, cache, args.size, args.bs)
    sides['originals'] = loaders(path, 'train-jpg', args.size, args.bs)
    epoch = {k: [] for k in sides}
    load = {k: [] for k in sides}
    for i in range(args.pairs):
        for name, dls in sides.items():
            epoch[name].append(second_epoch(dls))
            load[name].append(loader_pass(dls))
            print(f'round {i}: {name:15s} second epoch {epoch[name][-1]:6.2f} s, '
                  f'loader pass {load[name][-1]:6.2f} s', flush=True)
    speedup, ratios = median_ratio(epoch['originals'], epoch['cache'])
    per_image, per_image_ratios = median_ratio(epoch['originals'], epoch['cache_per_image'])
    network = [e - l for e, l in zip(epoch['cache'], load['cache'])]
    result = {
        'benchmark': 'resize_cache', 'size': args.size, 'bs': args.bs, 'arch': ARCH,
        'device': device_name(), 'cpu_count': os.cpu_count(), 'load_avg_before': load_average(),
        'second_epoch_s': epoch, 'loader_pass_s': load, 'decode_once_s': decode_once,
        'epoch_speedup_median': speedup, 'epoch_speedups': ratios,
        'per_image_speedup_median': per_image, 'per_image_speedups': per_image_ratios,
        'loader_speedup_median': median_ratio(load['originals'], load['cache'])[0],
        'network_s': network, 'target': 'cache second epoch >= 2x faster',
    }
    result['meets_target'] = speedup >= 2.0
    print(f"second epoch: originals / cache in memory = {speedup:.2f}x (rounds "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); originals / cache read per image = "
          f"{per_image:.2f}x; loaders alone {result['loader_speedup_median']:.2f}x; decoding "
          f"the copies into memory took {decode_once:.2f} s once; the network's share of the "
          f"in-memory epoch {statistics.median(network):.2f} s; load average {load_average()}; "
          f"target >= 2x: {'met' if result['meets_target'] else 'MISSED'}")
    save_result(args.out, 'resize_cache_cpu.json', result)
    return result


if __name__ == '__main__':
    main()                  # a missed target is reported above, not an error: `make bench` goes on
