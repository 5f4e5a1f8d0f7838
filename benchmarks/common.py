"""What every benchmark shares."""
import argparse
import json
import os
import warnings
from pathlib import Path


def load_average():
    """The 1, 5 and 15 minute load averages (other processes slow every timing down)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, 'getloadavg') else None


def save_result(folder, name, result):
    """Write `result` as `folder/name` (JSON), creating the folder; return the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(result, indent=1))
    return path


def step_benchmark_args(doc, argv, steps):
    """Parse `--pairs`, `--steps`, `--threads` and `--out` for a benchmark of training steps,
    silence UserWarnings and apply `--threads` (torch's default thread count when absent)."""
    import torch
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument('--pairs', type=int, default=3)
    parser.add_argument('--steps', type=int, default=steps)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore', UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def save_settings_result(out, benchmark, label, rows, load_before, **fields):
    """Report and save a benchmark of several settings, each with a `ratio_median` (target
    >= 1.0x in every setting): print met or MISSED, write `<benchmark>_cpu.json` in `out`."""
    import torch
    result = {'benchmark': benchmark, **fields, 'threads': torch.get_num_threads(),
              'cpu_count': os.cpu_count(), 'settings': rows, 'target': 1.0,
              'target_met': all(r['ratio_median'] >= 1.0 for r in rows),
              'load_avg_before': load_before, 'load_avg_after': load_average()}
    print(f"{label} >= 1.0x in every setting: {'met' if result['target_met'] else 'MISSED'} "
          f"({result['threads']} threads, load average {result['load_avg_after']})")
    save_result(out, f'{benchmark}_cpu.json', result)
    return result
