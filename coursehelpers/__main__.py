"""Command line: `python -m coursehelpers info | data list | data fetch NAME | lessons run`."""
import argparse
import sys

from .datasets.download import DataError
from .datasets.registry import DATASETS, get_data, list_data
from .env.banner import banner
from .runner.lessons import run_lessons


def _data_list(args):
    rows = list_data()
    print(f"{'name':<17}{'variant':<20}{'present':<9}{'size MB':>8}  folder / how it is made")
    for r in rows:
        size = '' if r['size_mb'] is None else f"{r['size_mb']:.1f}"
        print(f"{r['name']:<17}{r['variant']:<20}{'yes' if r['present'] else 'no':<9}{size:>8}  "
              f"{r['folder']}\n{'':<54}{r['how']}\n{'':<54}{r['source']}")


def _data_fetch(args):
    names = list(DATASETS) if args.names == ['all'] else args.names
    variant = 'full' if args.full else ('sample' if args.sample else None)
    for name in names:
        get_data(name, variant)


def _lessons_run(args):
    _, failed = run_lessons(args.names, args.out, args.timeout, in_process=args.in_process)
    if failed:
        print(f'{len(failed)} lesson(s) failed: {", ".join(failed)}', file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """Entry point of `python -m coursehelpers` and the `coursehelpers` command."""
    p = argparse.ArgumentParser(prog='python -m coursehelpers', description=__doc__)
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('info', help='print the banner: mode, device, data root, versions')
    data = sub.add_parser('data', help='list or fetch data sets').add_subparsers(dest='action', required=True)
    data.add_parser('list', help='every data set and variant, and whether it is present')
    fetch = data.add_parser('fetch', help='fetch data sets into the data root')
    fetch.add_argument('names', nargs='+', help=f"data set names ({', '.join(DATASETS)}) or 'all'")
    group = fetch.add_mutually_exclusive_group()
    group.add_argument('--full', action='store_true', help='the complete data (default in full mode)')
    group.add_argument('--sample', action='store_true', help='the quick-mode sample')
    lessons = sub.add_parser('lessons', help='run lessons headless').add_subparsers(dest='action', required=True)
    run = lessons.add_parser('run', help='execute notebooks and collect their results')
    run.add_argument('names', nargs='*', help="lessons to run, e.g. 00 01_dogs_cats (default: all)")
    run.add_argument('--out', default='runs', help='folder for executed notebooks and results.json')
    run.add_argument('--timeout', type=int, default=1800, help='seconds allowed per cell (per lesson in-process)')
    run.add_argument('--in-process', action='store_true',
                     help='run code cells in a plain Python process (no Jupyter needed)')
    args = p.parse_args(argv)
    try:
        if args.cmd == 'info':
            banner()
        elif args.cmd == 'data':
            (_data_list if args.action == 'list' else _data_fetch)(args)
        else:
            return _lessons_run(args)
    except DataError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
