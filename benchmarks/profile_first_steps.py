"""What a new input shape costs on this device, under each cuDNN autotuning policy.

Lesson 01's network (resnet34 with the course's head, random weights: the cost is the same)
trains and predicts the way the lesson does, each policy in a fresh process
(`COURSE_CUDNN_AUTOTUNE` = off, train, on). Timed, the GPU waited for after each:
the first training step (a new shape), the median of the next ones, the first step of a last
partial batch (another new shape), the first validation batch, and one image predicted.
The first training step runs under `torch.profiler`, and the operations that took longest on
the CPU are listed: cuDNN's algorithm search, lazy loading of kernels and allocator growth
show up there by name.

    python benchmarks/profile_first_steps.py [--bs 16] [--size 224] [--policies off train on]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import torch

from coursehelpers.env.device import autocast, autotune, default_device, device_name
from coursehelpers.vision.models import create_cnn

from common import save_result


def sync():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn):
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def one_policy(bs, size, steps):
    """Run in a fresh process: every timing for the policy in COURSE_CUDNN_AUTOTUNE."""
    device = default_device()
    model = create_cnn('resnet34', 2, pretrained=False).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_func = torch.nn.CrossEntropyLoss()

    def train_step(n):
        x = torch.randn(n, 3, size, size, device=device)
        y = torch.randint(0, 2, (n,), device=device)
        with autocast(device):
            loss = loss_func(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def predict(n):
        with torch.no_grad(), autocast(device):
            model(torch.randn(n, 3, size, size, device=device))

    torch.zeros(1, device=device)                   # the CUDA context is not the model's cost
    sync()
    model.train()
    with autotune(device, fixed_shapes=True):       # as Learner.fit does for a drop_last loader
        activities = [torch.profiler.ProfilerActivity.CPU]
        with torch.profiler.profile(activities=activities) as prof:
            first = timed(lambda: train_step(bs))
        later = [timed(lambda: train_step(bs)) for _ in range(steps)]
        partial = timed(lambda: train_step(max(bs // 3, 2)))
    model.eval()
    valid_first = timed(lambda: predict(bs))
    valid_later = statistics.median(timed(lambda: predict(bs)) for _ in range(3))
    single = timed(lambda: predict(1))
    top = [{'op': e.key, 'cpu_total_s': round(e.cpu_time_total / 1e6, 3), 'calls': e.count}
           for e in sorted(prof.key_averages(), key=lambda e: -e.cpu_time_total)[:12]]
    return {'first_train_s': round(first, 4), 'median_train_s': round(statistics.median(later), 4),
            'first_partial_batch_s': round(partial, 4), 'first_valid_s': round(valid_first, 4),
            'median_valid_s': round(valid_later, 4), 'predict_one_s': round(single, 4),
            'first_step_top_ops': top}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--bs', type=int, default=16)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--policies', nargs='*', default=['off', 'train', 'on'])
    parser.add_argument('--one', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore', UserWarning)
    if args.one:
        print(json.dumps(one_policy(args.bs, args.size, args.steps)))
        return 0
    rows = []
    for policy in args.policies:
        env = {**os.environ, 'COURSE_CUDNN_AUTOTUNE': policy}
        run = subprocess.run([sys.executable, __file__, '--one', '--bs', str(args.bs), '--size',
                              str(args.size), '--steps', str(args.steps)], env=env,
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f'{policy}: failed: {run.stderr[-400:]}')
            rows.append({'policy': policy, 'error': run.stderr[-400:]})
            continue
        row = {'policy': policy, **json.loads(run.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(f"autotune {policy:>5}: first step {row['first_train_s']:.2f} s, median "
              f"{row['median_train_s']:.3f} s, partial batch {row['first_partial_batch_s']:.2f} s, "
              f"first valid {row['first_valid_s']:.2f} s (median {row['median_valid_s']:.3f}), "
              f"one image {row['predict_one_s']:.2f} s", flush=True)
        for op in row['first_step_top_ops'][:5]:
            print(f"    {op['cpu_total_s']:8.3f} s  {op['calls']:5d} x  {op['op']}")
    device = default_device()
    save_result(args.out, f'first_steps_{device.type}.json',
                {'benchmark': 'first_steps', 'device': device_name(device), 'bs': args.bs,
                 'size': args.size, 'policies': rows})
    return 0


if __name__ == '__main__':
    sys.exit(main())
