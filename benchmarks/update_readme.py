"""Write the README's results section from the lesson runner's and the benchmarks' own files.

Reads `runs/results.json` (written by `make lessons`) and `benchmarks/results/*.json`
(written by `make bench`), and replaces the part of README.md between the markers
`<!-- results:begin -->` and `<!-- results:end -->`. Nothing in that part is typed by
hand: `make results` runs the lessons and the benchmarks, then this script.

    python benchmarks/update_readme.py [--runs runs/results.json] [--bench benchmarks/results]
"""
import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = '<!-- results:begin -->', '<!-- results:end -->'

# lesson metric -> (quick-mode target, 2018 result on the full data set, from ../shared/COURSE.md)
TARGETS = {
    ('01_dogs_cats', 'accuracy_tta'): ('>= 0.97', '0.991'),
    ('02_planet', 'f2'): ('>= 0.85', ''),
    ('02_planet', 'f2_tta'): ('', '0.9363'),
    ('03_rossmann', 'exp_rmspe'): ('<= random forest', 'about 0.0985'),
    ('04_imdb', 'lm_perplexity'): ('< unigram', 'about 64'),
    ('04_imdb', 'accuracy'): ('>= 0.65', '0.9431'),
    ('05_movielens', 'mse'): ('<= 0.74, <= 30 s training', 'about 0.776'),
    ('06_nietzsche', 'valid_loss'): ('<= 1.6, <= 90 s training', '1.252'),
}
TIME_LIMIT = {'04_imdb': 240}           # seconds per notebook; every other lesson 180


def machine():
    """CPU model and core count (or the GPU), from this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return f'{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}'


def lesson_table(results):
    walls = {r['lesson']: r for r in results if r['metric'] == 'notebook_seconds'}
    mode = results[0]['mode'] if results else '?'
    lines = [f'Lessons ({mode} mode), from `make lessons`:', '',
             '| lesson | metric | value | quick-mode target | 2018 (full data) | training s | '
             'notebook s (limit) | peak MB (limit 4096) |', '|---|---|---|---|---|---|---|---|']
    for name, wall in sorted(walls.items()):
        rows = [r for r in results if r['lesson'] == name and r['metric'] != 'notebook_seconds']
        limit = TIME_LIMIT.get(name, 180)
        status = ' FAILED' if wall.get('status') == 'failed' else ''
        for r in rows or [{'metric': '(records nothing)', 'value': None, 'seconds': None}]:
            target, ref = TARGETS.get((name, r['metric']), ('', ''))
            value = '' if r['value'] is None else f"{r['value']:.4g}"
            secs = '' if r.get('seconds') is None else f"{r['seconds']:.0f}"
            lines.append(f"| {name}{status} | {r['metric']} | {value} | {target} | {ref} | {secs} | "
                         f"{wall['value']:.0f} ({limit}) | {wall.get('peak_mb') or ''} |")
    return lines


def _bench_row(name, r):
    """One benchmark JSON -> (what, result, target) for the table."""
    if name.startswith('learner_vs_hand'):
        case = f" ({r['case']}: {r['model']})" if 'case' in r else ''
        load = f", load {r['load_avg_after'][0]:.1f}" if r.get('load_avg_after') else ''
        return (f'Learner / hand-written loop, training throughput{case}',
                f"{r['ratio_median']:.3f}x (min {r['ratio_min']:.3f}, max {r['ratio_max']:.3f}, "
                f"{r['pairs']} pairs{load})",
                f">= {r.get('target', 0.9)}x " + ('met' if r['target_met'] else 'MISSED'))
    if name.startswith('fastai_'):
        ours, theirs = r['ours'], r['fastai']
        metric = r['metric'].split(' (')[0]
        result = (f"{metric}: ours {ours['score_median']:.4f}, fastai "
                  f"{theirs['score_median']:.4f}; wall time ours {ours['wall_s_median']:.1f} s, "
                  f"fastai {theirs['wall_s_median']:.1f} s ({r['wall_ratio_median']:.2f}x, "
                  f"{len(ours['wall_s'])} pairs)")
        target = '; '.join(f"{what} {'met' if r['targets_met'][k] else 'MISSED'}"
                           for k, what in r.get('targets', {}).items())
        target = target or ('met' if r.get('target_met') else 'MISSED')
        return (f"{r.get('what', r['benchmark'])} {r.get('fastai_version', '')}: {r['data']}",
                result, target)
    if name.startswith('resize_cache'):
        per_image = (f"; read per image {r['per_image_speedup_median']:.2f}x"
                     if 'per_image_speedup_median' in r else '')
        return (f"lesson 02: resize cache in memory (batch augmentation), second epoch at "
                f"{r['size']} px against decoding the originals",
                f"{r['epoch_speedup_median']:.2f}x faster (rounds "
                f"{', '.join(f'{x:.2f}' for x in r['epoch_speedups'])}{per_image}; loaders alone "
                f"{r['loader_speedup_median']:.2f}x)",
                '>= 2x ' + ('met' if r['meets_target'] else 'MISSED'))
    if name.startswith(('channels_last', 'batchnorm_folding')):
        parts = '; '.join(f"{x['setting']}: {x['ratio_median']:.2f}x" for x in r['settings'])
        what = r.get('what', 'lesson CNN training step, channels-last weights against the '
                             'default layout')
        return (f"{what} ({r['threads']} threads)", parts,
                '>= 1.0x in every setting ' + ('met' if r['target_met'] else 'MISSED'))
    if name.startswith('rossmann_memory'):
        b, c = r['build'], r['cached']
        return (f"lesson 03: peak memory of the steps before training on a synthetic "
                f"{r['rows']:,}-row train.csv (full mode)",
                f"{b['peak_mb']:,} MB building the {b['joined_shape'][0]:,} x "
                f"{b['joined_shape'][1]} table, {c['peak_mb']:,} MB from the parquet cache "
                f"({b['after_imports_mb']:,} MB after the imports)",
                f"< {r['target_gib']} GiB " + ('met' if r['target_met'] else 'MISSED'))
    if name.startswith('tokenize'):
        return ('lesson 04: tokenize_texts against a plain single-process loop',
                f"{r['speedup_median']:.2f}x faster; {r['workers_best_s']:.1f} s for the reviews "
                f"({r['workers']} workers)", f"{r['target']}: " + ('met' if r['meets_target']
                                                                    else 'MISSED'))
    if name.startswith('distributed'):
        parts = '; '.join(f"{x['model']} (global batch {x['global_bs']}): "
                          f"{x['ratio_median']:.2f}x" for x in r['settings'])
        load = f", load {r['load_avg_after'][0]:.1f}" if r.get('load_avg_after') else ''
        return ('torchrun, 2 processes x 1 thread against 1 x 1 on the CPU (gloo), fit '
                'throughput', parts + load, 'reported (no target)')
    if name.startswith('predict_cpu'):
        runs = ', '.join(f"{k.replace('_', ' ')}: {v['predict']['median_ms']:.1f} ms "
                         f"(p10 {v['predict']['p10_ms']:.1f}, p90 {v['predict']['p90_ms']:.1f})"
                         for k, v in r['runs'].items())
        return ('lesson 07: predict one image on the CPU after load_learner', runs,
                'reported (no target)')
    if name.startswith('loader_efficiency'):
        parts = '; '.join(f"{x['what']}: {x['efficiency_median']:.2f} ({x['loader']})"
                          for x in r['settings'])
        target = ('reported (the CPU is compute-bound)' if r.get('target') is None else
                  f">= {r['target']} " + ('met' if r['target_met'] else 'MISSED'))
        return (f"loader efficiency on {r['device']}: end to end / batches already on the "
                'device', parts, target)
    if name.startswith('torch_compile'):
        parts = '; '.join(
            f"{c['case']}: {c['error'][:60]}" if 'error' in c else
            f"{c['case']}: {c['eager_step_s'] * 1000:.0f} -> {c['compiled_step_s'] * 1000:.0f} ms, "
            f"compile {c['compile_s']:.0f} s, " + ('repaid' if c['repaid'] else 'not repaid')
            for c in r['cases'])
        return (f"torch.compile on {r['device']}: step time, compile time, repaid within the "
                "lesson's full schedule", parts, 'reported')
    if 'ratio_median' in r:
        target = r.get('target')
        met = '' if target is None else (' met' if r.get('target_met') else ' MISSED')
        return (r.get('benchmark', name), f"{r['ratio_median']:.2f}x",
                f'>= {target}x{met}' if target is not None else '')
    return (r.get('benchmark', name), json.dumps({k: v for k, v in r.items()
                                                   if isinstance(v, (int, float))})[:120], '')


def bench_table(folder):
    files = sorted(Path(folder).glob('*.json'))
    if not files:
        return ['No benchmark results yet: run `make bench`.']
    lines = ['Benchmarks, from `make bench` (side by side, medians):', '',
             '| benchmark | result | target |', '|---|---|---|']
    for f in files:
        what, result, target = _bench_row(f.stem, json.loads(f.read_text()))
        lines.append(f'| {what} | {result} | {target} |')
    return lines


def gpu_table(run):
    """README rows from `benchmarks/gpu_run.sh`'s gpu_run.json, marked with the device."""
    dev = f"{run['device']}, {run['date']}"
    where = 'a GPU' if run.get('device_type') == 'cuda' else 'a CPU (a dry run of the GPU script)'
    lines = [f'On {where} ({dev}), from `benchmarks/gpu_run.sh`:', '',
             '| what | result |', '|---|---|']
    walls = {r['lesson']: r for r in run['lessons'] if r['metric'] == 'notebook_seconds'}
    for name, r in sorted(walls.items()):
        numbers = ', '.join(f"{x['metric']} {x['value']:.4g}" for x in run['lessons']
                            if x['lesson'] == name and x['metric'] != 'notebook_seconds')
        lines.append(f"| {name} (quick, {dev}) | {r['status']}, {r['value']:.0f} s"
                     f"{'; ' + numbers if numbers else ''} |")
    for label, rows in (('stalls', run['stalls']), ('stalls, autotune on',
                                                    run['stalls_autotune_on'])):
        if rows:
            bad = [f"{x['lesson']} {x['loop']}" for x in rows if not (x['first_ok'] and x['later_ok'])]
            worst = max(rows, key=lambda x: x['first_s'])
            lines.append(f"| {label} ({dev}) | {len(rows)} loops, {len(bad)} with a stall"
                         f"{': ' + ', '.join(bad[:6]) if bad else ''}; slowest first step "
                         f"{worst['first_s']:.2f} s ({worst['lesson']} {worst['loop']}) |")
    t = run.get('tests')
    if t:
        lines.append(f"| unit tests ({dev}) | {t['tests']} run, {t['failures'] + t['errors']} "
                     f"failed, {t['skipped']} skipped"
                     f"{': ' + ', '.join(t['failed'][:5]) if t['failed'] else ''} |")
    for r in (run.get('first_steps') or {}).get('policies', []):
        if 'error' not in r:
            lines.append(f"| autotune {r['policy']}: first / median training step, partial batch, "
                         f"one image ({dev}) | {r['first_train_s']:.2f} / {r['median_train_s']:.3f}"
                         f" s, {r['first_partial_batch_s']:.2f} s, {r['predict_one_s']:.2f} s |")
    for s in run['steps']:
        if s['status'] != 'ok':
            lines.append(f"| step {s['step']} ({dev}) | {s['status']} after {s['seconds']} s |")
    for r in run.get('projection', []):
        lines.append(f"| projected full mode, {r['lesson']} ({dev}) | {r['value'] / 60:.1f} min |")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', default=str(ROOT / 'runs' / 'results.json'))
    p.add_argument('--bench', default=str(ROOT / 'benchmarks' / 'results'))
    p.add_argument('--readme', default=str(ROOT / 'README.md'))
    p.add_argument('--gpu', default=str(ROOT / 'runs' / 'gpu' / 'gpu_run.json'),
                   help="benchmarks/gpu_run.sh's summary, if there is one")
    args = p.parse_args(argv)
    runs = Path(args.runs)
    if not runs.exists():
        print(f'{runs} is missing: run `make lessons` first.', file=sys.stderr)
        return 1
    results = json.loads(runs.read_text())
    stamp = datetime.datetime.fromtimestamp(runs.stat().st_mtime).strftime('%Y-%m-%d')
    section = [BEGIN, f'Measured on {machine()}, {stamp}; regenerate with `make results`.', '',
               *lesson_table(results), '', *bench_table(args.bench)]
    if Path(args.gpu).exists():
        section += ['', *gpu_table(json.loads(Path(args.gpu).read_text()))]
    section.append(END)
    readme = Path(args.readme)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f'{readme} has no {BEGIN} ... {END} markers.', file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + '\n'.join(section) + tail)
    print(f'updated {readme}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
