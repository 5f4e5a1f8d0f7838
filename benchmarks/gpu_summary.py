"""Gather what `benchmarks/gpu_run.sh` measured into one file, `RESULTS/gpu_run.json`.

    python benchmarks/gpu_summary.py RESULTS

It holds the device, the date, each step's status and seconds, the quick lessons' results and
notebook times, the stall tables (with the default autotuning policy and with the old one),
the unit tests' counts and failures, the loader-efficiency and torch.compile benchmarks and
the full-mode projection. `benchmarks/update_readme.py` turns it into README rows.
"""
import datetime
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from coursehelpers.env.device import default_device, device_name


def _json(path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def test_counts(xml_path):
    """Counts and failed test names from pytest's JUnit XML, or None when it is missing."""
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == 'testsuite' else list(root)
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ('tests', 'failures', 'errors', 'skipped')}
    counts['failed'] = [f"{case.get('classname')}::{case.get('name')}"
                        for case in root.iter('testcase')
                        if case.find('failure') is not None or case.find('error') is not None]
    counts['skip_reasons'] = sorted({(case.find('skipped').get('message') or '')[:160]
                                     for case in root.iter('testcase')
                                     if case.find('skipped') is not None})
    return counts


def summarise(folder):
    folder = Path(folder)
    steps = [json.loads(line) for line in (folder / 'steps.jsonl').read_text().splitlines()
             if line.strip()] if (folder / 'steps.jsonl').exists() else []
    bench = folder / 'bench'
    projection = [r for r in _json(folder / 'project' / 'results.json', [])
                  if r.get('metric') == 'projected_full_s']
    device = default_device()
    return {'device': device_name(device), 'device_type': device.type,
            'date': datetime.date.today().isoformat(), 'steps': steps,
            'lessons': _json(folder / 'quick' / 'results.json', []),
            'stalls': _json(folder / 'quick' / 'stalls.json', []),
            'stalls_autotune_on': _json(folder / 'before' / 'stalls.json', []),
            'lesson01_autotune_on': _json(folder / 'before' / 'results.json', []),
            'tests': test_counts(folder / 'tests.xml'),
            'loader_efficiency': next((_json(p) for p in bench.glob('loader_efficiency_*.json')),
                                      None),
            'torch_compile': next((_json(p) for p in bench.glob('torch_compile_*.json')), None),
            'first_steps': next((_json(p) for p in bench.glob('first_steps_*.json')), None),
            'projection': projection}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0] if argv else 'runs/gpu')
    summary = summarise(folder)
    (folder / 'gpu_run.json').write_text(json.dumps(summary, indent=1))
    print(f"{summary['device']}: " + ', '.join(f"{s['step']} {s['status']} {s['seconds']}s"
                                              for s in summary['steps']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
