"""Set up Jupyter inside this environment: the kernel and JupyterLab's start page.

    .venv/bin/python setup/jupyter_setup.py            # `make setup` runs this
    python setup/jupyter_setup.py --check              # exit 0 when nothing is left to do
    python setup/jupyter_setup.py --prefix ENV --env COURSE_DATA /storage/data   # setup/paperspace.sh

1. Registers the kernel "Python (coursehelpers)" inside the environment (`ipykernel install
   --sys-prefix`), not for the whole user account: each clone's .venv has its own, so a second
   clone never takes over the first one's kernel. Jupyter started from a venv looks in the venv
   before the user's folders, so this kernel wins over a same-named one registered for the user.
2. A kernel of that name registered for the user account by an earlier set-up: removed when it
   runs this same environment's Python, otherwise left alone with a message saying how to remove it.
3. Turns off JupyterLab's news pop-up ("Would you like to receive official Jupyter news?") for
   this environment: its page config (ENV/etc/jupyter/labconfig/page_config.json, the file
   `jupyter labextension disable --level=sys_prefix` writes) disables the announcements plugin,
   so `make lab` and setup/jupyter.sh both start without it.

--prefix names the environment when it is not this Python's own (default: sys.prefix).
"""
import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

NAME = 'coursehelpers'
DISPLAY_NAME = 'Python (coursehelpers)'
NEWS_PLUGIN = '@jupyterlab/apputils-extension:announcements'


def env_kernel_dir(prefix=sys.prefix):
    """Where the environment's own kernel spec lives."""
    return Path(prefix) / 'share' / 'jupyter' / 'kernels' / NAME


def user_kernel_dir():
    """Where a kernel registered for the whole user account (`--user`) lives."""
    from jupyter_core.paths import jupyter_data_dir
    return Path(jupyter_data_dir()) / 'kernels' / NAME


def same_python(a, b):
    """True when two paths name the same environment's Python (its folder may be a symlink; the
    `python` in it is a symlink to the base interpreter, shared by every venv, so is not resolved)."""
    a, b = Path(a), Path(b)
    return a.name == b.name and a.parent.resolve() == b.parent.resolve()


def kernel_is_current(env_vars, prefix=sys.prefix):
    """True when the environment's kernel runs this Python with exactly `env_vars`."""
    try:
        spec = json.loads((env_kernel_dir(prefix) / 'kernel.json').read_text())
        python = spec['argv'][0]
    except (OSError, ValueError, KeyError, IndexError):
        return False
    return (same_python(python, sys.executable) and spec.get('env', {}) == env_vars
            and spec.get('display_name') == DISPLAY_NAME)


def register_kernel(env_vars, prefix=sys.prefix):
    """`ipykernel install --sys-prefix`: the kernel of this environment, running this Python."""
    where = ['--sys-prefix'] if prefix == sys.prefix else ['--prefix', str(prefix)]
    cmd = [sys.executable, '-m', 'ipykernel', 'install', *where, '--name', NAME,
           '--display-name', DISPLAY_NAME]
    for key, value in env_vars.items():
        cmd += ['--env', key, value]
    subprocess.run(cmd, check=True)


def runs_inside(kernel_json, prefix=sys.prefix):
    """True when the kernel spec's Python lies inside the environment at `prefix`."""
    try:
        exe = Path(json.loads(Path(kernel_json).read_text())['argv'][0])
    except (OSError, ValueError, KeyError, IndexError):
        return False
    return Path(prefix).resolve() in exe.parent.resolve().parents


def user_kernel_advice(prefix=sys.prefix):
    """Remove a user-level kernel of this environment; return a note on any other one (or '')."""
    folder = user_kernel_dir()
    spec = folder / 'kernel.json'
    if not spec.exists():
        return ''
    if runs_inside(spec, prefix):
        shutil.rmtree(folder)
        return f'removed the kernel an earlier set-up registered for the user account ({folder})'
    try:
        exe = json.loads(spec.read_text())['argv'][0]
    except (OSError, ValueError, KeyError, IndexError):
        exe = 'an unreadable kernel.json'
    return (f"note: a kernel named '{NAME}' is also registered for your whole user account\n"
            f'    ({folder}), running {exe}:\n'
            '    another clone of the course, or an earlier set-up of another environment.\n'
            "    JupyterLab started from this clone (make lab, setup/jupyter.sh) uses this clone's own\n"
            '    kernel; other Jupyter installations would still pick that one. If no clone you use\n'
            f'    needs it, remove it:  rm -r {shlex.quote(str(folder))}')


def page_config_file(prefix=sys.prefix):
    """The environment's JupyterLab page config (what `--level=sys_prefix` settings go to)."""
    return Path(prefix) / 'etc' / 'jupyter' / 'labconfig' / 'page_config.json'


def read_page_config(prefix=sys.prefix):
    """The page config as a dict ({} when there is none). A broken file stops with its path."""
    page = page_config_file(prefix)
    if not page.exists():
        return {}
    try:
        config = json.loads(page.read_text())
    except ValueError as e:
        raise SystemExit(f'{page} is not valid JSON ({e}): fix or delete it, then run this again.')
    return config if isinstance(config, dict) else {}


def news_disabled(prefix=sys.prefix):
    """True when this environment's JupyterLab page config disables the news plugin."""
    disabled = read_page_config(prefix).get('disabledExtensions', {})
    return isinstance(disabled, dict) and disabled.get(NEWS_PLUGIN) is True


def disable_news(prefix=sys.prefix):
    """Add JupyterLab's announcements plugin to the page config's disabledExtensions."""
    config = read_page_config(prefix)
    disabled = config.get('disabledExtensions')
    config['disabledExtensions'] = {**(disabled if isinstance(disabled, dict) else {}), NEWS_PLUGIN: True}
    page = page_config_file(prefix)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(json.dumps(config, indent=2) + '\n')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--prefix', default=sys.prefix, help='the environment (default: this Python\'s)')
    p.add_argument('--env', nargs=2, action='append', default=[], metavar=('NAME', 'VALUE'),
                   help='an environment variable the kernel starts with (repeatable)')
    p.add_argument('--check', action='store_true', help='change nothing; exit 1 when something is to do')
    args = p.parse_args(argv)
    prefix, env_vars = args.prefix, dict(args.env)
    leftover = user_kernel_dir() / 'kernel.json'
    done = (kernel_is_current(env_vars, prefix) and news_disabled(prefix)
            and not (leftover.exists() and runs_inside(leftover, prefix)))
    if args.check:
        if done:                    # nothing to remove: at most a note on another clone's kernel
            print(user_kernel_advice(prefix) or f'Jupyter is set up in this environment ({prefix})')
        return 0 if done else 1
    if kernel_is_current(env_vars, prefix):
        print(f"kernel '{DISPLAY_NAME}' is registered in this environment ({env_kernel_dir(prefix)})")
    else:
        register_kernel(env_vars, prefix)
    if not news_disabled(prefix):
        disable_news(prefix)
        print(f"JupyterLab's news pop-up is turned off for this environment ({page_config_file(prefix)})")
    advice = user_kernel_advice(prefix)
    if advice:
        print(advice)
    return 0


if __name__ == '__main__':
    sys.exit(main())
