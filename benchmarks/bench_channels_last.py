"""Training steps of the lesson CNN with channels-last weights against the default layout.

`create_cnn` returns its model in the channels-last memory format. This benchmark measures
why: the same EfficientNet-Lite0 (same weights, same batch, same optimizer) takes training
steps in the default (contiguous, N x C x H x W) layout and in channels-last, alternating,
the ratio taken pair by pair, for the settings the lessons use: frozen body at 64 px,
batch 64 (lesson 02's first stage), unfrozen at 64 px, and frozen / unfrozen at 128 px,
batch 16 (lessons 01 and 07). Every step is forward, loss, backward and an optimizer step;
the median of `--steps` steps is kept (two warm-up steps not counted). The thread count is
torch's default unless `--threads` is given. Target: channels-last no slower (>= 1.0x) in
every setting.

    python benchmarks/bench_channels_last.py [--pairs 3] [--steps 6] [--threads N]
                                             [--out benchmarks/results]
"""
import statistics
import time

import torch
import torch.nn.functional as F

from coursehelpers.vision.models import create_cnn

from common import load_average, save_settings_result, step_benchmark_args

ARCH = 'efficientnet_lite0'
SETTINGS = [('frozen', 64, 64), ('unfrozen', 64, 64), ('frozen', 128, 16), ('unfrozen', 128, 16)]


def step_ms(model, frozen, size, bs, steps):
    """Median milliseconds of one training step on a fixed random batch."""
    model.train()
    for p in model.body.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        model.body.eval()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                          momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(bs, 3, size, size, generator=gen), torch.rand(bs, 2, generator=gen)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[2:])


def main(argv=None):
    args = step_benchmark_args(__doc__, argv, steps=6)
    load_before = load_average()
    base = create_cnn(ARCH, 2)                       # channels-last, as the lessons get it
    state = {k: v.contiguous() for k, v in base.state_dict().items()}
    rows = []
    for frozen, size, bs in SETTINGS:
        ms = {'contiguous': [], 'channels_last': []}
        for i in range(args.pairs):
            order = ['contiguous', 'channels_last'][::1 if i % 2 == 0 else -1]
            for layout in order:
                model = create_cnn(ARCH, 2, pretrained=False)
                model.load_state_dict(state)
                fmt = torch.channels_last if layout == 'channels_last' else torch.contiguous_format
                model = model.to(memory_format=fmt)
                ms[layout].append(step_ms(model, frozen == 'frozen', size, bs, args.steps))
        ratios = [c / l for c, l in zip(ms['contiguous'], ms['channels_last'])]
        rows.append({'setting': f'{frozen} body, {size} px, batch {bs}', 'ms': ms,
                     'ratio_median': statistics.median(ratios), 'ratios': ratios})
        print(f"{rows[-1]['setting']:32s} contiguous {statistics.median(ms['contiguous']):6.0f} ms, "
              f"channels-last {statistics.median(ms['channels_last']):6.0f} ms per step: "
              f"{rows[-1]['ratio_median']:.2f}x (pairs {', '.join(f'{r:.2f}' for r in ratios)})",
              flush=True)
    save_settings_result(args.out, 'channels_last', 'channels-last', rows, load_before, arch=ARCH)
    return 0


if __name__ == '__main__':
    main()
