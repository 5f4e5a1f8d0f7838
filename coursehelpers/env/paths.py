"""Where things are: the course's top folder, the data root, the local mirror, the lessons,
and which data folders hold stand-ins (generated data of the full sets' shape, marked by a
`STANDIN.json` file) rather than real data.

The top of the course is the nearest folder above the working directory that holds both
`nbs/` and `coursehelpers/`, so a notebook in `nbs/` and a shell at the top find the same
data folder.
"""
import json
import os
from pathlib import Path

__all__ = ['course_root', 'data_root', 'mirror_root', 'lessons_dir', 'STANDIN_MARKER',
           'STANDIN_WARNING', 'standin_info', 'standins_in']

STANDIN_MARKER = 'STANDIN.json'         # in the folder of every stand-in data set
STANDIN_WARNING = 'stand-in data: the metrics mean nothing'


def course_root():
    """The top folder of the course above the working directory, or None outside a course.

    >>> course_root() is None or (course_root() / 'nbs').is_dir()
    True
    """
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / 'nbs').is_dir() and (folder / 'coursehelpers').is_dir():
            return folder
    return None


def data_root():
    """The folder data sets live in: `COURSE_DATA`, else `data/` at the top of the course.

    Outside a course folder (see `course_root`), `./data`.

    Used in lessons 01, 02, 03 and 07.
    """
    if os.environ.get('COURSE_DATA'):
        return Path(os.environ['COURSE_DATA']).expanduser().resolve()
    top = course_root()
    return (top if top is not None else Path.cwd().resolve()) / 'data'


def mirror_root():
    """The local mirror from `COURSE_DATA_MIRROR`, or None when it is not set."""
    m = os.environ.get('COURSE_DATA_MIRROR')
    return Path(m).expanduser().resolve() if m else None


def lessons_dir():
    """The `nbs/` folder of the course; raises FileNotFoundError outside a course folder."""
    top = course_root()
    if top is None:
        raise FileNotFoundError(f'No nbs/ folder above {Path.cwd().resolve()}: run this from '
                                f'inside the course folder (data root would be {data_root()}).')
    return top / 'nbs'


def standin_info(folder):
    """What the stand-in marker of `folder` says (a dict: name, scale, seed, ...), or None
    when `folder` holds real data.

    Used by `get_data`, `list_data` and `banner`.
    """
    marker = Path(folder) / STANDIN_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def standins_in(root=None):
    """{data set name: marker} for every stand-in under the data root (or `root`).

    Used by `banner`.
    """
    root = Path(root) if root is not None else data_root()
    found = {}
    markers = [*root.glob(f'*/{STANDIN_MARKER}'), *root.glob(f'*/*/{STANDIN_MARKER}')]
    for marker in sorted(markers):                  # 'full/dogscats/STANDIN.json' and the like
        info = standin_info(marker.parent)
        found[info.get('name', marker.parent.name)] = info
    return found
