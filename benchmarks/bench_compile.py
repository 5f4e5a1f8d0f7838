"""`torch.compile` on each lesson's full-mode model: the compile time against what it saves.

For each lesson's full-mode network, on synthetic batches of the full-mode shapes (the data's
values do not change the speed), a training step (forward, loss, backward, AdamW step, under
the Learner's mixed precision) is timed:
- eager: the median of `--steps` steps after `--warmup`;
- compiled (`torch.compile(model)`): the first step's wall time (the compilation), then the
  median of `--steps` steps.
The compile cost is the first compiled step minus an eager step; it is repaid after
`compile_s / (eager_s - compiled_s)` steps. Each lesson's full schedule (the steps its full-mode
fits run, counted below from the full data sets' sizes and the lesson's epochs) says whether
it would be repaid within the lesson. The course compiles nothing unless a lesson's model is
repaid on the machine that runs it: this benchmark is how to tell.

    python benchmarks/bench_compile.py [--cases cnn01 collab05 ...] [--steps 10] [--warmup 3]
"""
import argparse
import os
import statistics
import time
import warnings

import torch
import torch.nn as nn

from coursehelpers.collab import EmbeddingDotBias
from coursehelpers.env.device import autocast, default_device, device_name
from coursehelpers.tabular import TabularModel
from coursehelpers.text import CharRNN, LanguageModel
from coursehelpers.vision.models import create_cnn

from common import load_average, save_result


def _images(bs, size, n_out, multi):
    x = torch.randn(bs, 3, size, size)
    y = torch.randint(0, 2, (bs, n_out)).float() if multi else torch.randint(0, n_out, (bs,))
    return (x,), y


def _tokens(bs, bptt, vocab):
    return (torch.randint(0, vocab, (bs, bptt)),), torch.randint(0, vocab, (bs, bptt))


def _flat_ce(out, y):
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


# name -> (what, model builder, batch builder, loss, full-mode steps, how they were counted)
CASES = {
    'cnn01': ('lesson 01: resnet34, 224 px, batch 64, 2 classes',
              lambda: create_cnn('resnet34', 2, pretrained=False),
              lambda: _images(64, 224, 2, False), nn.CrossEntropyLoss(), 3590,
              '23,000 photos / 64 = 359 steps an epoch, 3 frozen + 7 unfrozen epochs'),
    'cnn02': ('lesson 02: resnet34, 256 px, batch 64, 17 tags',
              lambda: create_cnn('resnet34', 17, pretrained=False),
              lambda: _images(64, 256, 17, True), nn.BCEWithLogitsLoss(), 3542,
              '32,383 chips / 64 = 506 steps an epoch, 7 unfrozen epochs at 256 px'),
    'tabular03': ('lesson 03: Rossmann tabular model, batch 512',
                  lambda: TabularModel([(1116, 50), (8, 5), (4, 3), (13, 7), (32, 17), (3, 3),
                                        (4, 3), (5, 4), (24, 13), (26, 14), (53, 27), (3, 3)],
                                       16, (1000, 500), (0.001, 0.01)),
                  lambda: ((torch.stack([torch.randint(0, n, (512,)) for n in
                                         (1116, 8, 4, 13, 32, 3, 4, 5, 24, 26, 53, 3)], 1),
                            torch.randn(512, 16)), torch.randn(512, 1)),
                  nn.MSELoss(), 9600, '~983,000 training rows / 512 = 1,920 steps, 5 epochs'),
    'lm04': ('lesson 04: AWD-LSTM language model, 60,000 words, 1,150 units, batch 52 x 70',
             lambda: LanguageModel(60000, 400, 1150, 3),
             lambda: _tokens(52, 70, 60000), _flat_ce, 95000,
             '~25 M tokens / (52 x 70) = ~6,300 steps an epoch, 15 epochs'),
    'collab05': ('lesson 05: MovieLens dot product with biases, batch 2,048',
                 lambda: EmbeddingDotBias(610, 9724, 50),
                 lambda: ((torch.randint(0, 610, (2048,)), torch.randint(0, 9724, (2048,))),
                          torch.rand(2048) * 5), nn.MSELoss(), 400,
                 '80,669 ratings / 2,048 = 40 steps an epoch, 10 epochs'),
    'rnn06': ('lesson 06: 2-layer LSTM, 512 units, batch 64 x 70',
              lambda: CharRNN(85, 42, 512, n_layers=2, cell='lstm', dropout=0.1),
              lambda: _tokens(64, 70, 85), _flat_ce, 2700,
              '~600,000 characters / (64 x 70) = 134 steps an epoch, 20 epochs'),
}


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def step_times(model, batch, loss_func, device, n):
    """Wall seconds of each of `n` training steps on `batch`."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    xs, y = batch
    xs, y = [t.to(device) for t in xs], y.to(device)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        if hasattr(model, 'reset'):
            model.reset()
        with autocast(device):
            loss = loss_func(model(*xs).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def measure(name, steps, warmup, device):
    what, build, make_batch, loss_func, full_steps, counted = CASES[name]
    torch.manual_seed(0)
    batch = make_batch()
    eager = step_times(build().to(device).train(), batch, loss_func, device, warmup + steps)
    eager_s = statistics.median(eager[warmup:])
    torch._dynamo.reset()
    compiled = step_times(torch.compile(build().to(device).train()), batch, loss_func, device,
                          1 + steps)
    compiled_s = statistics.median(compiled[1:])
    compile_s = compiled[0] - eager_s
    saved = eager_s - compiled_s
    break_even = compile_s / saved if saved > 0 else None
    repaid = break_even is not None and break_even < full_steps
    print(f'{what}: eager {eager_s * 1000:.1f} ms, compiled {compiled_s * 1000:.1f} ms a step, '
          f'compile {compile_s:.1f} s, repaid after '
          f"{'never' if break_even is None else f'{break_even:,.0f} steps'} "
          f"(full schedule {full_steps:,}): {'use it' if repaid else 'not worth it'}", flush=True)
    return {'case': name, 'what': what, 'eager_step_s': round(eager_s, 5),
            'compiled_step_s': round(compiled_s, 5), 'compile_s': round(compile_s, 2),
            'break_even_steps': None if break_even is None else round(break_even),
            'full_schedule_steps': full_steps, 'counted': counted, 'repaid': repaid}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cases', nargs='*', default=list(CASES))
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore', UserWarning)
    device, load_before = default_device(), load_average()
    rows = []
    for name in args.cases:
        try:
            rows.append(measure(name, args.steps, args.warmup, device))
        except Exception as e:          # a model that does not compile here is a result too
            print(f'{name}: torch.compile failed: {type(e).__name__}: {str(e)[:300]}', flush=True)
            rows.append({'case': name, 'what': CASES[name][0], 'error': f'{type(e).__name__}: '
                         f'{str(e)[:300]}', 'repaid': False})
    result = {'benchmark': 'torch_compile', 'device': device_name(device),
              'device_type': device.type, 'torch': torch.__version__, 'cpu_count': os.cpu_count(),
              'cases': rows, 'load_avg_before': load_before, 'load_avg_after': load_average()}
    save_result(args.out, f'torch_compile_{device.type}.json', result)
    return result


if __name__ == '__main__':
    main()
