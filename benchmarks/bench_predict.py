"""Single-image prediction on the CPU after `load_learner` (lesson 07), against the bare model.

The model is lesson 07's quick-mode one (EfficientNet-Lite0 body with ImageNet weights,
the new two-class head, 128 px); its head is untrained, which changes no timing. It is
exported, loaded back with `load_learner(device='cpu')`, and timed two ways, alternating
call by call:
- `predict(path)`: everything an app does per photo (read and decode the JPEG, resize,
  crop, normalise, forward, softmax);
- the bare forward of the already-transformed tensor, the floor under it.
Both at torch's default thread count and at one thread (a web server usually runs one
request per core). Reported: median latency with the 10th-90th percentile spread, and the
ratio end-to-end / forward computed call pair by call pair. Also the time to load the file.

    python benchmarks/bench_predict.py [--calls 50] [--size 128] [--out benchmarks/results]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from coursehelpers import get_data
from coursehelpers.env.device import device_name
from coursehelpers.tools.export import export, load_learner
from coursehelpers.vision import ImageDataLoaders, get_image_files, model_stats
from coursehelpers.vision.learner import cnn_learner

from common import save_result

ARCH = 'efficientnet_lite0'


def spread(values):
    """Median and the 10th / 90th percentiles, in milliseconds."""
    q = statistics.quantiles(values, n=10)
    return {'median_ms': 1000 * statistics.median(values), 'p10_ms': 1000 * q[0],
            'p90_ms': 1000 * q[-1]}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(clf, images, calls):
    """Alternate predict(path) and the bare forward; per-call times and pair ratios."""
    xs = [clf.tfm(clf._image(p))[None] for p in images]
    end_to_end, forward, ratios = [], [], []
    with torch.no_grad():
        clf.predict(images[0])                                   # warm-up
        for i in range(calls):
            j = i % len(images)
            t_all = timed(lambda: clf.predict(images[j]))
            t_fwd = timed(lambda: clf.model(xs[j]))
            end_to_end.append(t_all)
            forward.append(t_fwd)
            ratios.append(t_all / t_fwd)
    return {'predict': spread(end_to_end), 'forward': spread(forward),
            'ratio_median': statistics.median(ratios)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--calls', type=int, default=50)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--out', default='benchmarks/results')
    args = p.parse_args(argv)
    path = get_data('dogscats', 'sample', verbose=False)
    dls = ImageDataLoaders.from_folder(path, size=args.size, bs=16, tfms=None,
                                       stats=model_stats(ARCH))
    learn = cnn_learner(dls, ARCH, progress=False)
    images = get_image_files(path / 'valid')[:10]
    with tempfile.TemporaryDirectory() as tmp:
        file = export(learn, Path(tmp) / 'model.safetensors')
        loads = [timed(lambda: load_learner(file, device='cpu')) for _ in range(5)]
        clf = load_learner(file, device='cpu')
        mb = file.stat().st_size / 2**20
    default_threads = torch.get_num_threads()
    runs = {}
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        runs[f'{threads}_threads'] = measure(clf, images, args.calls)
        r = runs[f'{threads}_threads']
        print(f"{threads} thread(s): predict(path) median {r['predict']['median_ms']:.1f} ms "
              f"(p10 {r['predict']['p10_ms']:.1f}, p90 {r['predict']['p90_ms']:.1f}); bare forward "
              f"{r['forward']['median_ms']:.1f} ms; predict / forward {r['ratio_median']:.2f}x",
              flush=True)
    torch.set_num_threads(default_threads)
    result = {'benchmark': 'predict_one_image_cpu', 'model': f'{ARCH}, 2 classes, {args.size} px',
              'machine': device_name(torch.device('cpu')), 'calls': args.calls,
              'file_mb': round(mb, 1), 'load_median_ms': 1000 * statistics.median(loads),
              'runs': runs}
    print(f"load_learner: median {result['load_median_ms']:.0f} ms for a {mb:.1f} MB file")
    save_result(args.out, 'predict_cpu.json', result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
