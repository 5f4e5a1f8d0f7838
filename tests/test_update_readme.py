"""The README's results section is written from the runner's and the benchmarks' files."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_section_between_the_markers_is_rewritten_from_the_files(tmp_path):
    runs = tmp_path / 'results.json'
    runs.write_text(json.dumps([
        {'lesson': '05_movielens', 'mode': 'quick', 'metric': 'notebook_seconds', 'value': 61.2,
         'seconds': 61.2, 'peak_mb': 1200.5, 'status': 'ok'},
        {'lesson': '05_movielens', 'mode': 'quick', 'metric': 'mse', 'value': 0.73456,
         'seconds': 17.04, 'peak_mb': 1100.0},
        {'lesson': '00_setup', 'mode': 'quick', 'metric': 'notebook_seconds', 'value': 5.0,
         'seconds': 5.0, 'peak_mb': 300.0, 'status': 'failed'}]))
    bench = tmp_path / 'bench'
    bench.mkdir()
    (bench / 'learner_vs_hand_cpu.json').write_text(json.dumps(
        {'ratio_median': 0.985, 'ratio_min': 0.95, 'ratio_max': 1.01, 'pairs': 3, 'target_met': True}))
    readme = tmp_path / 'README.md'
    readme.write_text('# Title\n\n<!-- results:begin -->\nold numbers\n<!-- results:end -->\n\nafter\n')
    run = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'update_readme.py'),
                          '--runs', str(runs), '--bench', str(bench), '--readme', str(readme)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = readme.read_text()
    assert 'old numbers' not in text and text.startswith('# Title') and text.endswith('after\n')
    assert ('| 05_movielens | mse | 0.7346 | <= 0.74, <= 30 s training | about 0.776 | 17 | '
            '61 (180) | 1200.5 |') in text
    assert '| 00_setup FAILED | (records nothing) |' in text
    assert '| 0.985x (min 0.950, max 1.010, 3 pairs) | >= 0.9x met |' in text


def test_missing_inputs_say_what_to_run(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'update_readme.py'),
                          '--runs', str(tmp_path / 'none.json')], capture_output=True, text=True)
    assert run.returncode == 1 and 'run `make lessons` first' in run.stderr
