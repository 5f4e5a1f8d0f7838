"""The lesson CNN with BatchNorm folded into its frozen convolutions, against running it as it is.

`CNN` runs each half of its body that does not train as a copy with every BatchNorm folded
into the convolution before it (`coursehelpers/vision/batchnorm_folding.py`). This benchmark takes
the same EfficientNet-Lite0 (same weights, same batch) with `fold_bn` off and on, alternating,
the ratio taken pair by pair, in the settings the lessons use: a training step with the body
frozen (forward, loss, backward through the head, optimizer step) at 64 px, batch 64
(lesson 02's first stage) and at 128 px, batch 16 (lessons 01 and 07), and a validation
forward pass without gradients (validation, TTA, predictions) at the same sizes. The median of
`--steps` steps is kept (two warm-up steps not counted; the first builds the folded copy).
Outputs are checked to agree before timing. Target: folding no slower (>= 1.0x) in every
setting.

    python benchmarks/bench_batchnorm_folding.py [--pairs 3] [--steps 8] [--threads N]
                                                  [--out benchmarks/results]
"""
import statistics
import time

import torch
import torch.nn.functional as F

from coursehelpers.vision.models import create_cnn

from common import load_average, save_settings_result, step_benchmark_args

ARCH = 'efficientnet_lite0'
SETTINGS = [('train, frozen body', 64, 64), ('validate', 64, 64),
            ('train, frozen body', 128, 16), ('validate', 128, 16)]


def frozen(model):
    """`model` as a frozen-body Learner trains it: body frozen, its BatchNorm in eval mode."""
    model.train()
    model.body.requires_grad_(False)
    model.body.eval()
    return model


def step_ms(model, setting, x, y, steps):
    """Median milliseconds of one training step (or validation forward pass) on a fixed batch."""
    opt = torch.optim.SGD(model.head.parameters(), lr=1e-3, momentum=0.9)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        if setting == 'validate':
            model.eval()
            with torch.no_grad():
                model(x)
        else:
            frozen(model)
            F.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()
            opt.zero_grad()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[2:])


def same_outputs(model, x):
    """The largest difference between the folded and the plain model's outputs (eval mode)."""
    model.eval()
    with torch.no_grad():
        model.fold_bn = True
        folded = model(x)
        model.fold_bn = False
        plain = model(x)
    return float((folded - plain).abs().max())


def main(argv=None):
    args = step_benchmark_args(__doc__, argv, steps=8)
    load_before = load_average()
    model = create_cnn(ARCH, 2)
    rows = []
    for setting, size, bs in SETTINGS:
        gen = torch.Generator().manual_seed(0)
        x, y = torch.randn(bs, 3, size, size, generator=gen), torch.rand(bs, 2, generator=gen)
        diff = same_outputs(model, x)
        ms = {'plain': [], 'folded': []}
        for i in range(args.pairs):
            for side in ['plain', 'folded'][::1 if i % 2 == 0 else -1]:
                model.fold_bn = side == 'folded'
                ms[side].append(step_ms(model, setting, x, y, args.steps))
        ratios = [p / f for p, f in zip(ms['plain'], ms['folded'])]
        rows.append({'setting': f'{setting}, {size} px, batch {bs}', 'ms': ms,
                     'max_output_difference': diff,
                     'ratio_median': statistics.median(ratios), 'ratios': ratios})
        print(f"{rows[-1]['setting']:36s} plain {statistics.median(ms['plain']):6.0f} ms, "
              f"folded {statistics.median(ms['folded']):6.0f} ms: "
              f"{rows[-1]['ratio_median']:.2f}x (pairs {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"outputs differ by at most {diff:.1e})", flush=True)
    what = 'lesson CNN, BatchNorm folded into the frozen body against running it as it is'
    save_settings_result(args.out, 'batchnorm_folding', 'folding', rows, load_before, arch=ARCH,
                         what=what)
    return 0


if __name__ == '__main__':
    main()
