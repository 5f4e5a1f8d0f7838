"""Each clone runs its own code: the kernel "Python (coursehelpers)" lives inside the clone's
environment (setup/jupyter_setup.py, run by `make setup`), and Jupyter started from that
environment prefers it to a kernel of the same name registered for the whole user account.

Every listing is a real `jupyter kernelspec list --json`, in a temporary HOME whose user-level
Jupyter folder holds a decoy kernel named coursehelpers. The two "clones" are real venvs made
here, which see the course's installed packages through a .pth file.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / '.venv'
SETUP = ROOT / 'setup' / 'jupyter_setup.py'
NEWS = '@jupyterlab/apputils-extension:announcements'


def clean_env(tmp_path, **extra):
    """No Jupyter settings from outside; HOME and the user-level data folder in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('JUPYTER', 'VIRTUAL_ENV', 'CONDA'))}
    env.update(HOME=str(tmp_path / 'home'), JUPYTER_DATA_DIR=str(tmp_path / 'user-data'), **extra)
    return env


def user_kernel(tmp_path, python):
    """A kernel named coursehelpers registered for the user account, running `python`."""
    folder = tmp_path / 'user-data' / 'kernels' / 'coursehelpers'
    folder.mkdir(parents=True)
    (folder / 'kernel.json').write_text(json.dumps({
        'argv': [str(python), '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
        'display_name': 'Python (coursehelpers)', 'language': 'python'}))
    return folder


def kernelspecs(python, env):
    """name -> {resource_dir, spec} as `jupyter kernelspec list --json` run by `python` says."""
    r = subprocess.run([str(python), '-m', 'jupyter', 'kernelspec', 'list', '--json'], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)['kernelspecs']


def make_clone_env(where):
    """A real venv (a clone's .venv) that imports the course's installed packages, with the
    `jupyter-kernelspec` command a venv gets from jupyter_client."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(where)], check=True, timeout=120)
    site = next((where / 'lib').glob('python3*/site-packages'))
    import jupyter_client
    (site / 'course.pth').write_text(str(Path(jupyter_client.__file__).parents[1]) + '\n')
    script = where / 'bin' / 'jupyter-kernelspec'
    script.write_text(f'#!{where}/bin/python\nimport sys\nfrom jupyter_client.kernelspecapp import KernelSpecApp\n'
                      'sys.exit(KernelSpecApp.launch_instance())\n')
    script.chmod(0o755)
    return where / 'bin' / 'python'


def setup_run(python, env, *args):
    env = {**env, 'PATH': f"{Path(python).parent}:{env['PATH']}"}
    return subprocess.run([str(python), str(SETUP), *args], env=env, capture_output=True, text=True, timeout=300)


def test_the_course_venv_kernel_wins_over_a_user_level_one(tmp_path):
    """The course's own .venv, as `make setup` left it: its kernel, not the decoy, is found."""
    if not (VENV / 'bin' / 'jupyter').exists():
        pytest.skip('run through `make test`, which creates .venv first')
    own = VENV / 'share' / 'jupyter' / 'kernels' / 'coursehelpers'
    if not (own / 'kernel.json').exists():
        pytest.fail(f'{own} is missing: `make setup` registers the kernel inside .venv (run it again)')
    decoy = user_kernel(tmp_path, '/elsewhere/.venv/bin/python')
    found = kernelspecs(VENV / 'bin' / 'python', clean_env(tmp_path))['coursehelpers']
    assert Path(found['resource_dir']).resolve() == own.resolve() != decoy.resolve()
    python = Path(found['spec']['argv'][0])
    assert python.parent.resolve() == (VENV / 'bin').resolve() and python.name.startswith('python')
    assert found['spec']['display_name'] == 'Python (coursehelpers)'


def test_two_clones_each_run_their_own_kernel(tmp_path):
    a, b = make_clone_env(tmp_path / 'a' / '.venv'), make_clone_env(tmp_path / 'b' / '.venv')
    decoy = user_kernel(tmp_path, '/elsewhere/.venv/bin/python')
    env = clean_env(tmp_path)
    for python in (a, b):
        r = setup_run(python, env)
        assert r.returncode == 0, r.stderr
        assert f'Installed kernelspec coursehelpers in {python.parents[1]}/share/jupyter/kernels/coursehelpers' in r.stdout + r.stderr
        # Another clone's kernel is left alone, with the command that removes it.
        assert "note: a kernel named 'coursehelpers' is also registered for your whole user account" in r.stdout
        assert f'running /elsewhere/.venv/bin/python' in r.stdout and f'rm -r {decoy}' in r.stdout
        assert (decoy / 'kernel.json').exists()
    for python in (a, b):
        found = kernelspecs(python, env)['coursehelpers']
        assert found['resource_dir'] == str(python.parents[1] / 'share' / 'jupyter' / 'kernels' / 'coursehelpers')
        assert found['spec']['argv'][0] == str(python)
    # Outside a venv's own preference (a conda env that is not activated) the user's decoy would
    # win: why setup/jupyter.sh starts JupyterLab with JUPYTER_PREFER_ENV_PATH=1.
    assert kernelspecs(a, {**env, 'JUPYTER_PREFER_ENV_PATH': '0'})['coursehelpers']['resource_dir'] == str(decoy)
    assert 'JUPYTER_PREFER_ENV_PATH=1' in (ROOT / 'setup' / 'jupyter.sh').read_text()


def test_a_user_level_kernel_of_this_same_venv_is_removed(tmp_path):
    python = make_clone_env(tmp_path / 'clone' / '.venv')
    env = clean_env(tmp_path)
    leftover = user_kernel(tmp_path, python)                 # what `ipykernel install --user` left
    assert kernelspecs(python, env)['coursehelpers']['resource_dir'] == str(leftover)
    assert setup_run(python, env, '--check').returncode == 1
    r = setup_run(python, env)
    assert r.returncode == 0, r.stderr
    assert f'removed the kernel an earlier set-up registered for the user account ({leftover})' in r.stdout
    assert not leftover.exists()
    assert kernelspecs(python, env)['coursehelpers']['resource_dir'].startswith(str(python.parents[1]))
    again = setup_run(python, env, '--check')                # a second run has nothing left to do
    assert again.returncode == 0 and again.stdout.startswith('Jupyter is set up in this environment')
    rerun = setup_run(python, env)
    assert "kernel 'Python (coursehelpers)' is registered in this environment" in rerun.stdout
    assert 'Installed kernelspec' not in rerun.stdout + rerun.stderr


def test_news_is_turned_off_and_other_page_settings_are_kept(tmp_path):
    python = make_clone_env(tmp_path / 'clone' / '.venv')
    page = python.parents[1] / 'etc' / 'jupyter' / 'labconfig' / 'page_config.json'
    page.parent.mkdir(parents=True)
    page.write_text(json.dumps({'disabledExtensions': {'some-extension': True}, 'buildCheck': False}))
    r = setup_run(python, clean_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert f"JupyterLab's news pop-up is turned off for this environment ({page})" in r.stdout
    assert json.loads(page.read_text()) == {'disabledExtensions': {'some-extension': True, NEWS: True},
                                            'buildCheck': False}
    page.write_text('{not json')
    r = setup_run(python, clean_env(tmp_path))
    assert r.returncode != 0 and f'{page} is not valid JSON' in r.stderr and 'fix or delete it' in r.stderr
