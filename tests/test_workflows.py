"""The GitHub Actions workflows pass actionlint and do what the course promises of them."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / '.github' / 'workflows'
BIN = ROOT / '.venv' / 'bin'


def actionlint(*args, cwd=ROOT):
    """Run actionlint (from the dev extra), with shellcheck on PATH so `run:` scripts are checked too."""
    exe = shutil.which('actionlint', path=f"{BIN}:{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.fail("actionlint is missing: pip install -e '.[dev]' (make setup) installs it")
    env = {**os.environ, 'PATH': f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run([exe, '-no-color', *args], cwd=cwd, env=env, capture_output=True, text=True)


def load(name):
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    wf['on'] = wf.pop(True, wf.get('on'))          # YAML 1.1 reads the key `on` as True
    return wf


def test_actionlint_passes_on_every_workflow():
    assert {p.name for p in WORKFLOWS.glob('*.yml')} >= {'ci.yml', 'gpu.yml', 'site.yml'}
    r = actionlint()                              # with no file named, actionlint checks them all
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_really_checks(tmp_path):
    """A broken workflow fails: the lint above is not passing by checking nothing."""
    bad = tmp_path / 'bad.yml'
    bad.write_text('on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n'
                   '      - run: echo ${{ github.nope }}\n      - run: cd $UNQUOTED_DIR && ls\n')
    r = actionlint(str(bad), cwd=tmp_path)
    assert r.returncode != 0
    assert 'nope' in r.stdout and 'shellcheck' in r.stdout


def test_ci_runs_the_readme_test_command():
    wf = load('ci.yml')
    steps = wf['jobs']['test']['steps']
    assert any(s.get('run') == 'bash .ci/run' for s in steps)
    assert wf['concurrency']['cancel-in-progress'] is True


def test_ci_builds_the_site_after_the_readme_test_command():
    lines = [line.strip() for line in (ROOT / '.ci' / 'run').read_text().splitlines()]
    assert lines.index('make test') < lines.index('make site')


def test_gpu_workflow_checks_the_gpu_first_then_runs_every_lesson_in_full_mode():
    wf = load('gpu.yml')
    assert set(wf['on']) == {'push', 'workflow_dispatch'}       # never pull requests on a self-hosted machine
    assert wf['concurrency']['cancel-in-progress'] is True and '${{ github.ref }}' in wf['concurrency']['group']
    job = wf['jobs']['lessons']
    assert {'self-hosted', 'cuda'} <= set(job['runs-on'])
    steps = [s for s in job['steps'] if not s.get('uses', '').startswith('actions/checkout')]
    first = steps[0]['run']
    assert first.splitlines()[0] == 'nvidia-smi' and 'torch.cuda.is_available()' in first and 'sys.exit' in first
    assert wf['env']['COURSE_MODE'] == 'full'
    cache = next(s for s in steps if s.get('uses', '').startswith('actions/cache'))
    paths = cache['with']['path']
    assert '${{ env.COURSE_DATA }}' in paths and '${{ env.TORCH_HOME }}' in paths
    lessons = steps[-1]['run']
    assert 'for nb in nbs/*.ipynb' in lessons and '--nbval' in lessons
    assert 'timeout' in lessons and '"$NOTEBOOK_TIMEOUT"' in lessons     # a time limit for each notebook
    assert (ROOT / '.github' / 'actionlint.yaml').exists()              # declares the cuda label


def test_site_workflow_builds_the_site_and_publishes_it_to_pages():
    wf = load('site.yml')
    assert wf['on']['push']['branches'] == ['main'] and 'workflow_dispatch' in wf['on']
    assert 'pull_request' not in wf['on']                        # only main is published
    build, deploy = wf['jobs']['build'], wf['jobs']['deploy']
    uses = [s.get('uses', '').split('@')[0] for s in build['steps']]
    runs = [s.get('run') for s in build['steps']]
    assert 'make site' in runs
    cache = next(s for s in build['steps'] if s.get('uses', '').startswith('actions/cache'))
    assert cache['with']['path'] == 'data'                       # the samples, cached as ci.yml does
    assert uses.index('actions/configure-pages') > runs.index('make site')
    upload = next(s for s in build['steps'] if s.get('uses', '').startswith('actions/upload-pages-artifact'))
    assert upload['with']['path'] == 'site'
    assert deploy['needs'] == 'build' and deploy['environment']['name'] == 'github-pages'
    assert deploy['permissions'] == {'pages': 'write', 'id-token': 'write'}
    assert deploy['steps'][0]['uses'].startswith('actions/deploy-pages@')
