"""Where things are: the course's top folder, the data root, the local mirror, the lessons.

The top of the course is the nearest folder above the working directory that holds both
`nbs/` and `coursehelpers/`, so a notebook in `nbs/` and a shell at the top find the same
data folder.
"""
import os
from pathlib import Path

__all__ = ['course_root', 'data_root', 'mirror_root', 'lessons_dir']


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
