"""`record`: a lesson's headline numbers, printed and, under the lesson runner, collected.

In a lesson: `record('accuracy', acc, seconds=train_time)`. The runner
(`python -m coursehelpers lessons run`, in `runner/`) sets `COURSE_LESSON` and
`COURSE_RESULTS`; every record is then appended to that file as one JSON line.
"""
import json
import os
import resource
import sys
from pathlib import Path

from .datasets.registry import data_used
from .env.distributed import is_main
from .env.modes import get_mode
from .env.paths import STANDIN_WARNING

__all__ = ['record', 'peak_memory_mb']


def peak_memory_mb():
    """Peak resident memory of this process in MiB (`ru_maxrss` is bytes on macOS, KiB on Linux).

    >>> peak_memory_mb() > 0
    True
    """
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == 'darwin' else 1024), 1)


def lesson_name():
    """The lesson this kernel runs: the runner's `COURSE_LESSON`, else the notebook's name
    when JupyterLab says it (`JPY_SESSION_NAME`), else None (a script or a console).

    >>> lesson_name()          # in JupyterLab, in nbs/01_dogs_cats.ipynb   # doctest: +SKIP
    '01_dogs_cats'
    """
    if os.environ.get('COURSE_LESSON'):
        return os.environ['COURSE_LESSON']
    session = os.environ.get('JPY_SESSION_NAME', '')
    return Path(session).stem if session.endswith('.ipynb') else None


def record(metric, value, seconds=None, **extra):
    """Record one headline number of a lesson: print it on one line, and collect it under the
    lesson runner.

    `seconds` is the training time behind the number. Under the runner, one JSON line is
    appended to its results: the lesson, mode, metric, value, seconds, the kernel's peak
    memory (`peak_mb`), which data set variants this kernel used, and `standin`: True when
    any of them is a stand-in (the number then means nothing). Under `torchrun`, only rank
    0 prints and writes. Returns nothing, so a cell that ends with it shows just the line.

    >>> record('accuracy', 0.951, seconds=12.34)   # doctest: +SKIP
    recorded accuracy = 0.951 (lesson 01_dogs_cats, 12.3 s of training, peak memory 900 MB)

    Used in lessons 01 to 08.
    """
    used = data_used()
    rec = {'lesson': os.environ.get('COURSE_LESSON', 'interactive'), 'mode': get_mode(),
           'metric': metric, 'value': float(value),
           'seconds': None if seconds is None else round(float(seconds), 2),
           'peak_mb': peak_memory_mb(), 'data': used,
           'standin': any(d.get('standin') for d in used.values()), **extra}
    if not is_main():
        return
    out = os.environ.get('COURSE_RESULTS')
    if out:
        with open(out, 'a') as f:
            f.write(json.dumps(rec) + '\n')
    print(record_line(rec, lesson_name()))


def record_line(rec, lesson=None):
    """The one line `record` prints for the record `rec` (a dict) of `lesson` (or None).

    >>> record_line({'metric': 'accuracy', 'value': 0.951, 'seconds': 12.34, 'peak_mb': 900,
    ...              'standin': False}, '01_dogs_cats')
    'recorded accuracy = 0.951 (lesson 01_dogs_cats, 12.3 s of training, peak memory 900 MB)'
    """
    about = [] if lesson is None else [f'lesson {lesson}']
    if rec['seconds'] is not None:
        about.append(f"{rec['seconds']:.1f} s of training")
    about.append(f"peak memory {rec['peak_mb']:.0f} MB")
    flag = f'; {STANDIN_WARNING}' if rec['standin'] else ''
    return f"recorded {rec['metric']} = {rec['value']:.4g} ({', '.join(about)}{flag})"
