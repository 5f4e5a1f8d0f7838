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
    (bench / 'resize_cache_cpu.json').write_text(json.dumps(
        {'size': 64, 'epoch_speedup_median': 2.1, 'epoch_speedups': [1.9, 2.1, 2.5],
         'per_image_speedup_median': 1.6, 'loader_speedup_median': 12.3, 'meets_target': True}))
    (bench / 'channels_last_cpu.json').write_text(json.dumps(
        {'threads': 2, 'target_met': True, 'settings': [
            {'setting': 'frozen body, 64 px, batch 64', 'ratio_median': 1.66},
            {'setting': 'unfrozen body, 64 px, batch 64', 'ratio_median': 1.78}]}))
    (bench / 'batchnorm_folding_cpu.json').write_text(json.dumps(
        {'threads': 2, 'target_met': True, 'what': 'BatchNorm folded', 'settings': [
            {'setting': 'validate, 64 px, batch 64', 'ratio_median': 1.64}]}))
    (bench / 'rossmann_memory.json').write_text(json.dumps(
        {'rows': 1017209, 'target_gib': 24, 'target_met': True,
         'build': {'peak_mb': 3736, 'joined_shape': [1058297, 88], 'after_imports_mb': 851},
         'cached': {'peak_mb': 3721}}))
    (bench / 'fastai_collab_cpu.json').write_text(json.dumps(
        {'benchmark': 'fastai_collab', 'what': 'MovieLens', 'metric': 'validation MSE (lower)',
         'data': 'ml-latest-small', 'fastai_version': '2.8.12', 'wall_ratio_median': 0.06,
         'ours': {'score_median': 0.7303, 'wall_s_median': 3.3, 'wall_s': [3.2, 3.3, 3.4]},
         'fastai': {'score_median': 0.757, 'wall_s_median': 64.5, 'wall_s': [64, 65, 64.5]},
         'targets': {'score': 'MSE <= fastai', 'time': 'wall <= 0.2x'},
         'targets_met': {'score': True, 'time': False}}))
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
    assert ('| 2.10x faster (rounds 1.90, 2.10, 2.50; read per image 1.60x; loaders alone 12.30x) '
            '| >= 2x met |') in text
    assert ('(2 threads) | frozen body, 64 px, batch 64: 1.66x; unfrozen body, 64 px, batch 64: '
            '1.78x | >= 1.0x in every setting met |') in text
    assert '| BatchNorm folded (2 threads) | validate, 64 px, batch 64: 1.64x | >= 1.0x' in text
    assert ('synthetic 1,017,209-row train.csv (full mode) | 3,736 MB building the 1,058,297 x 88 '
            'table, 3,721 MB from the parquet cache (851 MB after the imports) | < 24 GiB met |'
            ) in text
    assert ('validation MSE: ours 0.7303, fastai 0.7570; wall time ours 3.3 s, fastai 64.5 s '
            '(0.06x, 3 pairs) | MSE <= fastai met; wall <= 0.2x MISSED |') in text


def test_missing_inputs_say_what_to_run(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'update_readme.py'),
                          '--runs', str(tmp_path / 'none.json')], capture_output=True, text=True)
    assert run.returncode == 1 and 'run `make lessons` first' in run.stderr


def test_the_gpu_script_keeps_to_its_budget_and_its_summary_becomes_rows_marked_with_the_device(
        tmp_path):
    """benchmarks/gpu_run.sh with a budget too small for any step: every step is skipped and
    says so, and the one results file is still written; update_readme turns a GPU summary
    into rows that name the device."""
    results = tmp_path / 'gpu'
    run = subprocess.run(['bash', str(ROOT / 'benchmarks' / 'gpu_run.sh')], cwd=ROOT,
                         env={'PATH': '/usr/bin:/bin', 'PYTHON': sys.executable,
                              'RESULTS': str(results), 'BUDGET_S': '5', 'COURSE_DEVICE': 'cpu',
                              'HOME': str(tmp_path)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count('skipped,') == 7
    summary = json.loads((results / 'gpu_run.json').read_text())
    assert [s['step'] for s in summary['steps']] == ['quick', 'profile', 'tests', 'loaders',
                                                    'before', 'project', 'compile']
    assert all(s['status'] == 'skipped' for s in summary['steps'])
    summary.update(device='NVIDIA H200, 139.8 GiB', device_type='cuda', date='2026-12-05',
                   lessons=[{'lesson': '01_dogs_cats', 'metric': 'notebook_seconds',
                             'value': 21.4, 'status': 'ok'},
                            {'lesson': '01_dogs_cats', 'metric': 'accuracy', 'value': 0.955}],
                   stalls=[{'lesson': '01_dogs_cats', 'loop': 'fit 2 train', 'steps': 18,
                            'first_s': 0.41, 'median_s': 0.05, 'first_ok': True,
                            'later_ok': False}],
                   tests={'tests': 400, 'failures': 1, 'errors': 0, 'skipped': 9,
                          'failed': ['tests.test_x::test_y'], 'skip_reasons': []},
                   steps=[{'step': 'compile', 'status': 'timed_out', 'seconds': 120}])
    (results / 'gpu_run.json').write_text(json.dumps(summary))
    runs = tmp_path / 'results.json'
    runs.write_text(json.dumps([{'lesson': '05_movielens', 'mode': 'quick', 'value': 9.0,
                                 'metric': 'notebook_seconds', 'seconds': 9.0, 'status': 'ok'}]))
    readme = tmp_path / 'README.md'
    readme.write_text('top\n<!-- results:begin -->\nold\n<!-- results:end -->\n')
    subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'update_readme.py'), '--runs',
                    str(runs), '--bench', str(tmp_path / 'none'), '--gpu',
                    str(results / 'gpu_run.json'), '--readme', str(readme)], check=True)
    text = readme.read_text()
    dev = 'NVIDIA H200, 139.8 GiB, 2026-12-05'
    assert f'On a GPU ({dev})' in text
    assert f'| 01_dogs_cats (quick, {dev}) | ok, 21 s; accuracy 0.955 |' in text
    assert '1 loops, 1 with a stall: 01_dogs_cats fit 2 train' in text
    assert '400 run, 1 failed, 9 skipped: tests.test_x::test_y' in text
    assert f'| step compile ({dev}) | timed_out after 120 s |' in text
