"""`record`: a lesson's headline numbers, printed and, under the lesson runner, collected.

In a lesson: `record('accuracy', acc, seconds=train_time)`. The runner
(`python -m coursehelpers lessons run`, in `runner/`) sets `COURSE_LESSON` and
`COURSE_RESULTS`; every record is then appended to that file as one JSON line.
"""
import json
import os
import resource
import sys

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


def record(metric, value, seconds=None, **extra):
    """Record one headline number of a lesson and return the record (a dict).

    `seconds` is the training time behind the number. The record holds the
    lesson, mode, metric, value, seconds, the kernel's peak memory (`peak_mb`)
    and which data set variants this kernel used, and `standin`: True when any of
    them is a stand-in (the number then means nothing). Under the lesson runner it
    is appended to the run's results; it is always printed. Under `torchrun`, only rank 0
    prints and writes (every process gets the record back).

    >>> r = record('accuracy', 0.98, seconds=12.5)   # doctest: +SKIP
    recorded accuracy = 0.98 (12.5 s, peak 900 MB)

    Used in lessons 01 to 08.
    """
    used = data_used()
    rec = {'lesson': os.environ.get('COURSE_LESSON', 'interactive'), 'mode': get_mode(),
           'metric': metric, 'value': float(value),
           'seconds': None if seconds is None else round(float(seconds), 2),
           'peak_mb': peak_memory_mb(), 'data': used,
           'standin': any(d.get('standin') for d in used.values()), **extra}
    if not is_main():
        return rec
    out = os.environ.get('COURSE_RESULTS')
    if out:
        with open(out, 'a') as f:
            f.write(json.dumps(rec) + '\n')
    took = '' if seconds is None else f'{float(seconds):.1f} s, '
    flag = f'; {STANDIN_WARNING}' if rec['standin'] else ''
    print(f"recorded {metric} = {float(value):.4g} ({took}peak {rec['peak_mb']:.0f} MB{flag})")
    return rec
