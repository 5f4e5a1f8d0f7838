"""The Learner's training loop against a hand-written PyTorch loop, side by side.

Same model architecture and starting weights, same DataLoader (the dogs-vs-cats
sample, decoded once into tensors so that only the loop is measured), same
batch size, optimizer and device. Runs alternate (Learner, hand, Learner, ...)
and the throughput ratio is computed pair by pair, so a noisy machine moves
both sides of a pair together. Target: Learner >= 0.9x the hand-written loop.

    python benchmarks/bench_learner.py [--pairs 5] [--size 128] [--out benchmarks/results]
"""
import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from coursehelpers import DataLoaders, Learner, accuracy, default_device, get_data, seed_everything
from coursehelpers.device import autocast, device_name, grad_scaler
from coursehelpers.vision import ImageDataLoaders, create_cnn, model_stats


def decoded_loader(size, bs, n):
    """Loaders over `n` training and all validation images of the sample, decoded once to tensors."""
    dls = ImageDataLoaders.from_folder(get_data('dogscats', 'sample', verbose=False), size=size,
                                       bs=bs, tfms=None, stats=model_stats('efficientnet_lite0'))
    tensors = {}
    for split in ('train', 'valid'):
        xs, ys = zip(*dls.loader(split))
        tensors[split] = TensorDataset(torch.cat(xs)[:n], torch.cat(ys)[:n])
    pin = torch.cuda.is_available()
    return (DataLoader(tensors['train'], bs, shuffle=True, drop_last=True, pin_memory=pin),
            DataLoader(tensors['valid'], bs, pin_memory=pin))


def hand_loop(model, dl, valid, lr, epochs):
    """The plain PyTorch loop (train, then validation loss and accuracy, each epoch); returns the last two."""
    device = default_device()
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scaler, loss_fn = grad_scaler(device), torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in dl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device):
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            outs, ys = [], []
            for x, y in valid:
                with autocast(device):
                    outs.append(model(x.to(device, non_blocking=True)).float())
                ys.append(y.to(device, non_blocking=True))
            out, y = torch.cat(outs), torch.cat(ys)
            loss, acc = loss_fn(out, y).item(), (out.argmax(1) == y).float().mean().item()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return loss, acc


def learner_loop(model, dl, valid, lr, epochs):
    """The same training through `Learner.fit` (accuracy as its metric, no progress bar)."""
    learn = Learner(model, DataLoaders(dl, valid), torch.nn.CrossEntropyLoss(), metrics=[accuracy],
                    progress=False, layer_groups=[model])
    learn.fit(lr, epochs)
    if learn.device.type == 'cuda':
        torch.cuda.synchronize()


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--pairs', type=int, default=5)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--n', type=int, default=96, help='training images per epoch')
    p.add_argument('--epochs', type=int, default=1)
    p.add_argument('--out', default='benchmarks/results')
    args = p.parse_args(argv)
    seed_everything(0)
    dl, valid = decoded_loader(args.size, args.bs, args.n)
    base = create_cnn('efficientnet_lite0', 2)
    n_samples = len(dl) * args.bs * args.epochs
    ratios, speeds = [], {'learner': [], 'hand': []}
    timed(hand_loop, copy.deepcopy(base), dl, valid, 1e-4, 1)              # warm-up
    for i in range(args.pairs):
        t_learn = timed(learner_loop, copy.deepcopy(base), dl, valid, 1e-4, args.epochs)
        t_hand = timed(hand_loop, copy.deepcopy(base), dl, valid, 1e-4, args.epochs)
        speeds['learner'].append(n_samples / t_learn)
        speeds['hand'].append(n_samples / t_hand)
        ratios.append(t_hand / t_learn)                # Learner throughput / hand throughput
        print(f'pair {i + 1}: learner {n_samples / t_learn:.1f}/s, hand {n_samples / t_hand:.1f}/s, '
              f'ratio {ratios[-1]:.3f}', flush=True)
    result = {'benchmark': 'learner_vs_hand_loop', 'model': 'efficientnet_lite0 (all layers train)',
              'device': device_name(), 'size': args.size, 'bs': args.bs, 'samples_per_run': n_samples,
              'learner_per_s': statistics.median(speeds['learner']),
              'hand_per_s': statistics.median(speeds['hand']),
              'ratio_median': statistics.median(ratios), 'ratio_min': min(ratios),
              'ratio_max': max(ratios), 'pairs': args.pairs, 'target': 0.9}
    result['target_met'] = result['ratio_median'] >= 0.9
    print(f"Learner / hand-written throughput: median {result['ratio_median']:.3f} "
          f"(min {result['ratio_min']:.3f}, max {result['ratio_max']:.3f}) over {args.pairs} pairs; "
          f"target >= 0.9: {'met' if result['target_met'] else 'MISSED'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f'learner_vs_hand_{default_device().type}.json').write_text(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
