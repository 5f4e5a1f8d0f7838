"""The local mirror (`COURSE_DATA_MIRROR`): a folder laid out like the course's samples,
copied into the data root instead of downloading.

With a `SHA256SUMS` file at its top, only the files it lists are copied, each checked
against it, and links are never followed; without one the copy is made but reported as
unchecked (by `get_data`, `data list` and the banner). `mirror_entry` is the one check of
a path the listing names.
"""
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from ..env.paths import mirror_root
from .download import DataError, disk_error, replace_folder, sha256sum

__all__ = ['mirror_listing', 'mirror_entry', 'copy_from_mirror', 'mirror_status']

SUMS = 'SHA256SUMS'


def mirror_entry(mirror, rel):
    """The path of a `SHA256SUMS` entry `rel` inside `mirror`; DataError if it would leave it."""
    rel = rel[2:] if rel.startswith('./') else rel
    p = PurePosixPath(rel.replace('\\', '/'))
    if not rel or p.is_absolute() or '..' in p.parts or (p.parts and p.parts[0].endswith(':')):
        raise DataError(f'{Path(mirror) / SUMS} lists {rel!r}, a path outside the mirror: the '
                        'mirror is not to be trusted. Fix it, or unset COURSE_DATA_MIRROR.')
    return rel


def mirror_listing(mirror, folder):
    """{path relative to `folder`: sha256} from the mirror's SHA256SUMS, or None without one."""
    sums = Path(mirror) / SUMS
    if not sums.is_file():
        return None
    listing, prefix = {}, folder.rstrip('/') + '/'
    for line in sums.read_text().splitlines():
        digest, _, rel = line.strip().partition('  ')
        if not rel:
            continue
        rel = mirror_entry(mirror, rel)
        if rel.startswith(prefix):
            listing[rel[len(prefix):]] = digest
    return listing


def mirror_status(mirror=None):
    """'checked against SHA256SUMS', 'UNCHECKED (no SHA256SUMS)', or None without a mirror."""
    mirror = mirror_root() if mirror is None else Path(mirror)
    if mirror is None:
        return None
    return f'checked against {SUMS}' if (mirror / SUMS).is_file() else f'UNCHECKED (no {SUMS})'


def _plain_files(folder):
    """Relative paths of the regular files under `folder` (links are neither listed nor followed),
    and how many links were skipped."""
    files, links = [], 0
    for d, dirs, names in os.walk(folder):
        for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = Path(d) / n
            if p.is_symlink():
                links += 1
            elif p.is_file():
                files.append(str(p.relative_to(folder)))
    return files, links


def copy_from_mirror(mirror, folder, dest):
    """Copy `mirror/folder` to `dest` (via a temporary sibling); return a description.

    With SHA256SUMS: the listed files only, each checked (a mismatch, a missing file or a
    link raises DataError and keeps nothing). Without: every regular file, said unchecked.
    An existing `dest` is replaced by `replace_folder` (moved aside if it has other files).
    """
    src = Path(mirror) / folder
    listing = mirror_listing(mirror, folder)
    files, links = _plain_files(src)
    if listing is not None:
        plain = set(files)
        for rel in listing:                  # a link anywhere on the way is not in `plain`
            if rel not in plain:
                raise DataError(f'The mirror lists {folder}/{rel} in {Path(mirror) / SUMS}, but it is '
                                'missing or reached through a link: the mirror is damaged. Nothing '
                                'was copied; fix it or unset COURSE_DATA_MIRROR.')
        unlisted = len(set(files) - set(listing))
        files = sorted(listing)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{dest.name}.', dir=dest.parent))
    try:
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, tmp / rel)
            if listing is not None and sha256sum(tmp / rel) != listing[rel]:
                raise DataError(f'The mirror copy of {folder}/{rel} does not match '
                                f'{Path(mirror) / SUMS}: the mirror is damaged. Nothing was kept; '
                                'fix it or unset COURSE_DATA_MIRROR.')
        replace_folder(tmp, dest)
    except OSError as e:
        raise disk_error(e, dest) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    skipped = ''.join([f', {links} link{"s" if links != 1 else ""} not followed' if links else '',
                       f', {unlisted} unlisted files not copied' if listing is not None and unlisted else ''])
    if listing is None:
        return f'mirror ({src}, copied, UNCHECKED: the mirror has no {SUMS}{skipped})'
    n = f'{len(files)} file{"s" if len(files) != 1 else ""}'
    return f'mirror ({src}, copied, {n} checked against {SUMS}{skipped})'
