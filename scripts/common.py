"""What the training scripts share: their command line and their last line of output.

Each script is a lesson's training recipe, built from the same helpers as the notebook, and
runs as `python scripts/X.py` (one process) or `torchrun --nproc_per_node=N scripts/X.py`
(N processes; see the README's "Training on several GPUs or machines").
"""
import argparse
import os
import time

from coursehelpers.env.distributed import is_main, teardown, world_size


def options(doc, epochs, bs, lr, sync_bn=False):
    """Parse --epochs --bs --lr --mode --data (defaults from the lesson, per mode), and
    --sync-bn where the model has BatchNorm layers (`sync_bn`).

    `--mode` and `--data` set COURSE_MODE and COURSE_DATA, which the helpers read when they
    are called, so they must be parsed before anything is trained. `epochs` and `bs` are
    (quick, full) pairs; `bs` is the batch size of each process.
    """
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--mode', choices=['quick', 'full'], help='default: COURSE_MODE, else quick')
    p.add_argument('--data', help='the data root (default: COURSE_DATA, else data/)')
    p.add_argument('--epochs', type=int, help=f'default: {epochs[0]} quick, {epochs[1]} full')
    p.add_argument('--bs', type=int, help=f'batch size of EACH process: the global batch is '
                   f'bs x number of processes (default: {bs[0]} quick, {bs[1]} full)')
    p.add_argument('--lr', type=float, default=lr, help=f'learning rate (default: {lr})')
    if sync_bn:
        p.add_argument('--sync-bn', action='store_true', help='under torchrun on GPUs: '
                       'BatchNorm statistics over the global batch (nn.SyncBatchNorm)')
    args = p.parse_args()
    for name in ('COURSE_RESULTS', 'COURSE_LOOP_TIMES', 'COURSE_LESSON'):
        os.environ.pop(name, None)      # launched from a lesson: its runner's logs are not ours
    args.sync_bn = getattr(args, 'sync_bn', False)
    if args.mode:
        os.environ['COURSE_MODE'] = args.mode
    if args.data:
        os.environ['COURSE_DATA'] = os.path.abspath(args.data)
    quick = os.environ.get('COURSE_MODE', 'quick').strip().lower() != 'full'
    args.epochs = args.epochs or epochs[0 if quick else 1]
    args.bs = args.bs or bs[0 if quick else 1]
    args.start = time.perf_counter()
    return args


def finish(args, **metrics):
    """Print the final metrics in one line (rank 0 only) and leave the process group."""
    if is_main():
        numbers = ' '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                           for k, v in metrics.items())
        print(f'final: {numbers} world_size={world_size()} global_batch='
              f'{args.bs * world_size()} epochs={args.epochs} '
              f'seconds={time.perf_counter() - args.start:.1f}', flush=True)
    teardown()
