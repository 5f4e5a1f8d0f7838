"""Tokenizing 50,000 reviews: `tokenize_texts` (worker processes) against a plain loop.

The reviews are the IMDB sample's 1,000 repeated to 50,000 (full mode tokenizes 100,000
reviews of the same kind). One side is `[tokenize(t) for t in texts]` in this process;
the other is `tokenize_texts(texts)`, which shares chunks of 2,000 reviews among one worker
process per core. Both must give the same tokens. Runs alternate (loop, workers, loop,
...) and the ratio is taken pair by pair, so a busy machine slows both sides of a pair
together. Target: 50,000 reviews well under a minute; workers faster than the loop when
there is more than one core.

    python benchmarks/bench_tokenize.py [--pairs 3] [--n 50000] [--workers N]
                                        [--out benchmarks/results]
"""
import argparse
import os
import statistics
import time

from coursehelpers import get_data
from coursehelpers.text.data import read_imdb, tokenize, tokenize_texts

from common import load_average, save_result


def plain_loop(texts):
    """The baseline: one process, one review after another."""
    return [tokenize(t) for t in texts]


def timed(func, texts):
    """(seconds, result) of `func(texts)`."""
    start = time.perf_counter()
    result = func(texts)
    return time.perf_counter() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pairs', type=int, default=3)
    parser.add_argument('--n', type=int, default=50_000)
    parser.add_argument('--workers', type=int, default=None,
                        help='default: one per core (at most 8)')
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args(argv)
    reviews = read_imdb(get_data('imdb', 'sample')).text.tolist()
    texts = (reviews * (args.n // len(reviews) + 1))[:args.n]
    workers = lambda ts: tokenize_texts(ts, n_workers=args.workers)
    times = {'loop': [], 'workers': []}
    for i in range(args.pairs):
        (t_loop, a), (t_workers, b) = timed(plain_loop, texts), timed(workers, texts)
        if a != b:
            raise RuntimeError('tokenize_texts and the plain loop gave different tokens.')
        times['loop'].append(t_loop)
        times['workers'].append(t_workers)
        print(f'pair {i}: plain loop {t_loop:6.2f} s, tokenize_texts {t_workers:6.2f} s '
              f'({len(texts):,} reviews, {sum(map(len, a)):,} tokens)', flush=True)
    ratios = [lo / wo for lo, wo in zip(times['loop'], times['workers'])]
    best = min(times['workers'])
    result = {
        'benchmark': 'tokenize', 'reviews': len(texts), 'cpu_count': os.cpu_count(),
        'workers': args.workers or min(os.cpu_count() or 1, 8), 'load_avg_before': load_average(),
        'seconds': times, 'speedup_median': statistics.median(ratios), 'speedups': ratios,
        'workers_best_s': best, 'target': f'{args.n:,} reviews well under 60 s',
    }
    result['meets_target'] = best < 30
    print(f"plain loop / tokenize_texts = {result['speedup_median']:.2f}x (pairs "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); tokenize_texts: {best:.1f} s for "
          f"{len(texts):,} reviews on {os.cpu_count()} cores; load average {load_average()}")
    save_result(args.out, 'tokenize_cpu.json', result)
    return result



if __name__ == '__main__':
    main()                  # a missed target is printed, not an error: `make bench` goes on
