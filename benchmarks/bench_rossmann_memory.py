"""Peak memory of lesson 03's feature step on a full-size Rossmann training table.

The shared sample holds 10,000 of the 1,017,209 rows of Kaggle's `train.csv`. This benchmark
writes a synthetic `train.csv` of the full table's shape: the same 9 columns and dtypes, the
same 1,115 stores over the same 942 days (2013-01-01 to 2015-07-31), the same gap (180 stores
without rows from 2014-07-01 to 2014-12-31, and store 988 without 2013-01-01), so exactly
1,017,209 rows. Sales and customers are drawn around each store's level in the sample; opening,
promotions, state and school holidays follow calendars like the real ones. Every other table
(stores, states, trends, weather, the 41,088-row test table) is the real one from the sample.
The generator is `coursehelpers.datasets.standin_text_tables.make_rossmann` (`synthetic_train`
there), the one that builds full mode's Rossmann stand-in.

It then runs lesson 03's own code cells, in full mode, in a fresh process: from the first cell
up to the one that builds the data loaders and the model (everything before `lr_find`): reading
the seven tables, the checked joins, date parts, event features, the joined table written to
the parquet cache, the time-based split (2014-08-01 to 2014-09-17, as in full mode), the
preprocessing fitted on train and applied to valid and test, and the tensors of the loaders.
A thread samples the process's resident memory every 5 ms; the peak is reported overall and
per cell, with `ru_maxrss` as a cross-check. It runs twice: the first run builds the joined
table, the second reads it from the parquet cache (a student's later runs).

Target: the feature step fits a 24 GB machine (peak resident memory well under 24 GiB).

    python benchmarks/bench_rossmann_memory.py [--keep DIR] [--out benchmarks/results]
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from coursehelpers import get_data
from coursehelpers.datasets.standin_text_tables import ROSSMANN_ROWS as FULL_ROWS
from coursehelpers.datasets.standin_text_tables import make_rossmann
from coursehelpers.runner.inprocess import cell_sources

from common import load_average, save_result

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / 'nbs' / '03_rossmann.ipynb'
TARGET_GIB = 24
STOP_AT = 'lr_find'          # the first cell not run: training starts there

def make_data_root(root, sample_dir):
    """Lay out `root/full/rossmann` (the full variant's folder) with the synthetic train.csv."""
    dest = root / 'full' / 'rossmann'
    dest.mkdir(parents=True, exist_ok=True)
    rows = make_rossmann(sample_dir, dest)['train.csv']
    assert rows == FULL_ROWS, rows
    return dest


class RssSampler(threading.Thread):
    """Samples this process's resident memory; `mark()` starts a new span."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval, self.page = interval, os.sysconf('SC_PAGE_SIZE')
        self.peak = self.span_peak = 0
        self.running = True

    def rss(self):
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self.page

    def mark(self):
        self.span_peak = self.rss()

    def run(self):
        while self.running:
            r = self.rss()
            self.peak, self.span_peak = max(self.peak, r), max(self.span_peak, r)
            time.sleep(self.interval)


def child(out):
    """Run the lesson's cells before training in this process; write what was measured."""
    import matplotlib
    matplotlib.use('Agg')
    os.chdir(NOTEBOOK.parent)
    sources, _ = cell_sources(NOTEBOOK)
    stop = next(i for i, s in enumerate(sources) if STOP_AT in s)
    sampler = RssSampler()
    sampler.start()
    ns, cells = {'__name__': '__main__'}, []
    start = time.perf_counter()
    for i, src in enumerate(sources[:stop]):
        sampler.mark()
        t = time.perf_counter()
        exec(compile(src, f'{NOTEBOOK.name}[code cell {i}]', 'exec'), ns)
        time.sleep(2 * sampler.interval)
        cells.append({'cell': i, 'first_line': src.strip().splitlines()[0][:70],
                      'seconds': round(time.perf_counter() - t, 2),
                      'peak_mb': round(sampler.span_peak / 2**20)})
        print(f"cell {i:2d}: {cells[-1]['seconds']:6.1f} s, peak {cells[-1]['peak_mb']:6,} MB  "
              f"{cells[-1]['first_line']}", flush=True)
    sampler.running = False
    joined, trn = ns['joined'], ns['trn']
    result = {
        'seconds': round(time.perf_counter() - start, 1),
        'peak_mb': round(sampler.peak / 2**20),
        'ru_maxrss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        'after_imports_mb': cells[1]['peak_mb'],
        'joined_shape': list(joined.shape),
        'joined_mb': round(joined.memory_usage(deep=True).sum() / 2**20),
        'train_rows': int((joined.split == 'train').sum()),
        'fit_rows': len(trn), 'valid_rows': len(ns['val']),
        'valid_dates': [str(ns['val'].Date.min().date()), str(ns['val'].Date.max().date())],
        'cells': cells,
    }
    Path(out).write_text(json.dumps(result, indent=1))


def run_child(root, label):
    env = dict(os.environ, COURSE_MODE='full', COURSE_DATA=str(root), COURSE_DEVICE='cpu')
    env.pop('COURSE_DATA_MIRROR', None)
    with tempfile.NamedTemporaryFile(suffix='.json') as tmp:
        print(f'== {label}', flush=True)
        subprocess.run([sys.executable, __file__, '--child', tmp.name], env=env, check=True)
        return json.loads(Path(tmp.name).read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep', help='build the data root in DIR and keep it (default: a '
                        'temporary folder, removed afterwards)')
    parser.add_argument('--out', default='benchmarks/results')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)

    sample_dir = get_data('rossmann', 'sample')
    load_before = load_average()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix='rossmann-full-'))
    try:
        t = time.perf_counter()
        train_csv = make_data_root(root, sample_dir) / 'train.csv'
        print(f'synthetic train.csv: {FULL_ROWS:,} rows, {train_csv.stat().st_size / 2**20:.0f} MB, '
              f'written in {time.perf_counter() - t:.0f} s', flush=True)
        build = run_child(root, 'first run: builds the joined table')
        cached = run_child(root, 'second run: reads the joined table from the parquet cache')
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    peak = max(build['peak_mb'], cached['peak_mb'], build['ru_maxrss_mb'], cached['ru_maxrss_mb'])
    result = {'benchmark': 'rossmann_memory', 'rows': FULL_ROWS, 'build': build,
              'cached': cached, 'peak_mb': peak, 'target_gib': TARGET_GIB,
              'target_met': peak < TARGET_GIB * 1024, 'load_avg_before': load_before,
              'load_avg_after': load_average()}
    print(f"\njoined table {build['joined_shape'][0]:,} x {build['joined_shape'][1]} "
          f"({build['joined_mb']:,} MB in pandas); fit rows {build['fit_rows']:,}, valid rows "
          f"{build['valid_rows']:,} ({build['valid_dates'][0]} to {build['valid_dates'][1]})")
    for label, r in (('first run (builds the table)', build), ('later runs (parquet cache)', cached)):
        top = max(r['cells'], key=lambda c: c['peak_mb'])
        print(f"{label}: peak {r['peak_mb']:,} MB (ru_maxrss {r['ru_maxrss_mb']:,} MB; "
              f"{r['after_imports_mb']:,} MB after the imports) in {r['seconds']:.0f} s; "
              f"highest in cell {top['cell']} ({top['first_line']})")
    print(f"target: under {TARGET_GIB} GiB: " + ('met' if result['target_met'] else 'MISSED'))
    save_result(args.out, 'rossmann_memory.json', result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
