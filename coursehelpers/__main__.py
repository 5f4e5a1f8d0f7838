"""Command line: `python -m coursehelpers info | data list | data fetch NAME | data standin NAME |
weights fetch | lessons run | lessons project | site`."""
import argparse
import json
import os
import sys
from pathlib import Path

from .datasets.download import DataError
from .datasets.registry import DATASETS, get_data, list_data
from .datasets.standins import STANDIN_MAKERS, make_standin, standin_names
from .env.banner import banner
from .env.modes import MODES
from .runner.lessons import run_lessons
from .runner.projection import project_lessons
from .runner.site import SiteError, build_site
from .runner.stalls import print_stalls, read_loop_log, stall_rows
from .vision.models import FULL_MODE_ARCHS, WeightsError, fetch_weights


def _data_list(args):
    rows = list_data()
    print(f"{'name':<17}{'variant':<30}{'present':<9}{'size MB':>8}  folder / how it is made / "
          "source / verified against")
    pad = ' ' * 64
    for r in rows:
        size = '' if r['size_mb'] is None else f"{r['size_mb']:.1f}"
        how = ('stand-in data, the metrics mean nothing (python -m coursehelpers data standin)'
               if r['standin'] else r['how'])
        check = f"{r['checksum']}  ({r['checksum_from']})" if r['checksum'] else r['checksum_from']
        print(f"{r['name']:<17}{r['variant']:<30}{'yes' if r['present'] else 'no':<9}{size:>8}  "
              f"{r['folder']}\n{pad}{how}\n{pad}{r['source']}\n{pad}checksum: {check}")
        if r['origin']:
            print(f"{pad}copy from: {r['origin']}")


def _data_fetch(args):
    names = list(DATASETS) if args.names == ['all'] else args.names
    variant = 'full' if args.full else ('sample' if args.sample else None)
    for name in names:
        get_data(name, variant)


def _data_standin(args):
    for name in standin_names(args.names):
        make_standin(name, scale=args.scale, seed=args.seed, workers=args.workers)


def _weights_fetch(args):
    fetch_weights(args.archs or FULL_MODE_ARCHS)


def _lessons_run(args):
    if args.mode:
        os.environ['COURSE_MODE'] = args.mode                   # the lessons' processes inherit it
    if args.max_batches:
        os.environ['COURSE_MAX_BATCHES'] = str(args.max_batches)
    if args.max_epochs:
        os.environ['COURSE_MAX_EPOCHS'] = str(args.max_epochs)
    loops = Path(args.out).resolve() / 'loops.jsonl'
    if args.stalls:                                 # time every batch of every loop
        loops.parent.mkdir(parents=True, exist_ok=True)
        loops.unlink(missing_ok=True)
        os.environ['COURSE_LOOP_TIMES'] = str(loops)
    _, failed = run_lessons(args.names, args.out, args.timeout, in_process=args.in_process)
    if args.stalls:
        rows = stall_rows(read_loop_log(loops))
        print_stalls(rows)
        (loops.parent / 'stalls.json').write_text(json.dumps(rows, indent=1))
    if failed:
        print(f'{len(failed)} lesson(s) failed: {", ".join(failed)}', file=sys.stderr)
        return 1
    return 0


def _lessons_project(args):
    _, failed = project_lessons(args.names, args.out, args.scale, args.max_batches,
                                args.max_epochs, args.timeout, in_process=args.in_process)
    return 1 if failed else 0


def _site(args):
    try:
        build_site(args.names, args.out, args.timeout, args.mode)
    except SiteError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


def _site_parser(sub):
    site = sub.add_parser('site', help='run every lesson and render it as a static site (HTML)')
    site.add_argument('names', nargs='*', help='lessons, e.g. 01 08_p_values (default: all)')
    site.add_argument('--out', default='site', help='folder for the site (default: site)')
    site.add_argument('--timeout', type=int, default=900, help='seconds allowed per cell')
    site.add_argument('--mode', choices=MODES, default='quick', help='the mode the lessons run in '
                      '(default: quick)')


def _data_parser(sub):
    data = sub.add_parser('data', help='list, fetch or stand in for data sets')
    actions = data.add_subparsers(dest='action', required=True)
    actions.add_parser('list', help='every data set and variant, and whether it is present')
    fetch = actions.add_parser('fetch', help='fetch data sets into the data root')
    fetch.add_argument('names', nargs='+', help=f"data set names ({', '.join(DATASETS)}) or 'all'")
    group = fetch.add_mutually_exclusive_group()
    group.add_argument('--full', action='store_true', help='the complete data (default in full mode)')
    group.add_argument('--sample', action='store_true', help='the quick-mode sample')
    standin = actions.add_parser('standin', help='generate full-size stand-in data from the samples '
                                 '(to rehearse full mode; the metrics mean nothing)')
    standin.add_argument('names', nargs='+', help=f"{', '.join(STANDIN_MAKERS)} or 'all'")
    standin.add_argument('--scale', type=float, default=1.0,
                         help='fraction of the real counts (default 1: the real counts)')
    standin.add_argument('--seed', type=int, default=0, help='the same seed gives the same files')
    standin.add_argument('--workers', type=int, default=None, help='processes (default: every core)')


def _lessons_parser(sub):
    lessons = sub.add_parser('lessons', help='run lessons headless').add_subparsers(dest='action', required=True)
    run = lessons.add_parser('run', help='execute notebooks and collect their results')
    run.add_argument('names', nargs='*', help="lessons to run, e.g. 00 01_dogs_cats (default: all)")
    run.add_argument('--out', default='runs', help='folder for executed notebooks and results.json')
    run.add_argument('--timeout', type=int, default=1800, help='seconds allowed per cell (per lesson in-process)')
    run.add_argument('--in-process', action='store_true',
                     help='run code cells in a plain Python process (no Jupyter needed)')
    run.add_argument('--mode', choices=MODES, help='quick or full (default: COURSE_MODE, else by the hardware)')
    run.add_argument('--max-batches', type=int, help='stop every loop after this many batches '
                     '(COURSE_MAX_BATCHES: a rehearsal, the metrics mean nothing)')
    run.add_argument('--max-epochs', type=int, help='stop every fit after this many epochs '
                     '(COURSE_MAX_EPOCHS: a rehearsal on a CPU)')
    run.add_argument('--stalls', action='store_true', help='time every batch of every loop and '
                     'print the slow first and later steps (out/stalls.json)')
    project = lessons.add_parser('project', help='project the full-mode time of lessons on this '
                                 'machine (full mode on stand-ins, every loop capped and timed)')
    project.add_argument('names', nargs='*', help='lessons (default: all)')
    project.add_argument('--scale', type=float, default=0.02,
                         help='scale of the stand-ins made when missing (default 0.02)')
    project.add_argument('--max-batches', type=int, default=5, help='batches timed per loop')
    project.add_argument('--max-epochs', type=int, help='epochs run per fit; the others are '
                         'projected from them (for CPUs, where a full epoch takes long)')
    project.add_argument('--out', default='runs/projection', help='folder for the results')
    project.add_argument('--timeout', type=int, default=1800, help='seconds allowed per cell')
    project.add_argument('--in-process', action='store_true', help='no Jupyter: plain processes')


def main(argv=None):
    """Entry point of `python -m coursehelpers` and the `coursehelpers` command."""
    p = argparse.ArgumentParser(prog='python -m coursehelpers', description=__doc__)
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('info', help='print the banner: mode, device, data root, versions')
    _data_parser(sub)
    weights = sub.add_parser('weights', help='pretrained weights').add_subparsers(dest='action', required=True)
    fetch = weights.add_parser('fetch', help='download the weights full mode needs, checked, '
                               'into the torch cache (for machines that go offline)')
    fetch.add_argument('archs', nargs='*', help=f"architectures (default: {', '.join(FULL_MODE_ARCHS)})")
    _lessons_parser(sub)
    _site_parser(sub)
    args = p.parse_args(argv)
    commands = {('data', 'list'): _data_list, ('data', 'fetch'): _data_fetch,
                ('data', 'standin'): _data_standin, ('weights', 'fetch'): _weights_fetch,
                ('lessons', 'run'): _lessons_run, ('lessons', 'project'): _lessons_project}
    try:
        if args.cmd == 'info':
            banner()
            return 0
        if args.cmd == 'site':
            return _site(args)
        return commands[args.cmd, args.action](args) or 0
    except (DataError, WeightsError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
