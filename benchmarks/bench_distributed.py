"""Two processes against one under torchrun: training throughput on the CPU, same global batch.

Lesson 05's MovieLens model (`collab`, global batch 2048) and lesson 03's Rossmann model
(`tabular`, global batch 128), each trained by `Learner.fit_one_cycle`: once by one process
with one thread (`python`), once by two processes with one thread each
(`torchrun --nproc_per_node=2`, gloo, half the batch per process). Only the fit is timed,
from a barrier before it to the end (not the start-up, the data or the process group).
Runs alternate; the ratio is one-process seconds / two-process seconds, median over pairs.

    python benchmarks/bench_distributed.py [--models collab,tabular] [--pairs 3] [--epochs 3]

Two processes can at best halve the time of the arithmetic; the gradients' all-reduce
after every step costs the rest. On a machine with 2 cores shared with other work the
ratio also measures that work: read it with the load average it prints.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GLOBAL_BS = {'collab': 2048, 'tabular': 128}


def worker(model, epochs, global_bs):
    """Train `model` in this process (one of several under torchrun); rank 0 prints BENCH."""
    import numpy as np
    import pandas as pd
    import torch
    from torch import nn

    from bench_learner import CAT_VARS, CONT_VARS, rossmann_joined
    from coursehelpers import Learner, get_data, seed_everything
    from coursehelpers.collab import CollabDataLoaders, collab_learner
    from coursehelpers.env.distributed import barrier, is_main, world_size
    from coursehelpers.tabular import (TabularModel, TabularProc, exp_rmspe, tabular_dls,
                                       time_split)
    torch.set_num_threads(1)
    seed_everything(42)
    bs = global_bs // world_size()
    if model == 'collab':
        ratings = pd.read_csv(get_data('ml-latest-small', verbose=False) / 'ratings.csv')
        dls = CollabDataLoaders.from_df(ratings, valid_pct=0.2, seed=42, bs=bs)
        learn, lr = collab_learner(dls, n_factors=50, y_range=(0, 5.5), l2=0.1), 1e-2
    else:
        joined = rossmann_joined(get_data('rossmann', 'sample', verbose=False))
        df = joined[(joined.split == 'train') & (joined.Sales > 0)].reset_index(drop=True)
        df['LogSales'] = np.log(df['Sales'])
        is_valid = time_split(df['Date'], 1)
        proc = TabularProc(CAT_VARS, CONT_VARS).fit(df[~is_valid])
        dls = tabular_dls(proc, df[~is_valid], df[is_valid], 'LogSales', bs=bs)
        net = TabularModel(proc.emb_sizes(), len(proc.conts), layers=(1000, 500),
                           ps=(0.001, 0.01), emb_drop=0.04,
                           y_range=(0, 1.2 * float(df['LogSales'].max())))
        learn = Learner(net, dls, nn.MSELoss(), metrics=[exp_rmspe], wd=0.1)
        lr = 3e-3
    learn.progress = False
    barrier()
    start = time.perf_counter()
    learn.fit_one_cycle(epochs, lr)
    barrier()
    seconds = time.perf_counter() - start
    if is_main():
        print('BENCH ' + json.dumps({'seconds': seconds, 'world_size': world_size(),
                                     'valid_loss': float(learn.history.iloc[-1]['valid_loss']),
                                     'train_items': len(dls.train.dataset)}), flush=True)


def run(model, procs, epochs):
    """Launch one timed training with `procs` processes; return the worker's BENCH dict."""
    me = [str(Path(__file__).resolve()), '--worker', model, '--epochs', str(epochs)]
    cmd = ([sys.executable, *me] if procs == 1 else
           [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={procs}', *me])
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith('BENCH ')]
    if out.returncode or not lines:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{(out.stdout + out.stderr)[-3000:]}')
    return json.loads(lines[0][len('BENCH '):])


def main(argv=None):
    from common import load_average, save_result
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--models', default='collab,tabular')
    p.add_argument('--pairs', type=int, default=3)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.epochs, GLOBAL_BS[args.worker])
    load_before, rows = load_average(), []
    for model in args.models.split(','):
        pairs = [(run(model, 1, args.epochs), run(model, 2, args.epochs))
                 for _ in range(args.pairs)]
        ratios = [one['seconds'] / two['seconds'] for one, two in pairs]
        row = {'model': model, 'global_bs': GLOBAL_BS[model], 'epochs': args.epochs,
               'seconds_1x1': [round(o['seconds'], 2) for o, _ in pairs],
               'seconds_2x1': [round(t['seconds'], 2) for _, t in pairs],
               'valid_loss_1x1': pairs[-1][0]['valid_loss'],
               'valid_loss_2x1': pairs[-1][1]['valid_loss'],
               'ratio_median': round(statistics.median(ratios), 3),
               'ratio_range': [round(min(ratios), 3), round(max(ratios), 3)]}
        rows.append(row)
        print(f"{model}: 2 processes x 1 thread are {row['ratio_median']:.2f}x as fast as "
              f"1 x 1 (range {row['ratio_range'][0]:.2f}-{row['ratio_range'][1]:.2f}, "
              f"{args.pairs} pairs; valid loss {row['valid_loss_1x1']:.4f} vs "
              f"{row['valid_loss_2x1']:.4f})", flush=True)
    result = {'benchmark': 'distributed', 'cpu_count': os.cpu_count(), 'settings': rows,
              'load_avg_before': load_before, 'load_avg_after': load_average()}
    print(f"load average before {load_before}, after {result['load_avg_after']}")
    save_result(args.out, 'distributed_cpu.json', result)


if __name__ == '__main__':
    main()
