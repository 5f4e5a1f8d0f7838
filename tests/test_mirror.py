"""The local mirror: a student's own file is never deleted, a mirror without SHA256SUMS is
reported unchecked, and one with it copies only what it lists, never through a link."""
import hashlib

import pytest

from coursehelpers.datasets.download import DataError
from coursehelpers.datasets.registry import get_data, list_data
from coursehelpers.env.banner import banner

TEXT = b'PREFACE\n\nSUPPOSING that Truth is a woman--what then?\n'


@pytest.fixture
def mirror(tmp_path, data_root, monkeypatch):
    m = tmp_path / 'mirror'
    (m / 'nietzsche').mkdir(parents=True)
    (m / 'nietzsche' / 'nietzsche.txt').write_bytes(TEXT)
    monkeypatch.setenv('COURSE_DATA_MIRROR', str(m))
    return m


def write_sums(m, entries):
    (m / 'SHA256SUMS').write_text(''.join(f'{d}  ./{rel}\n' for rel, d in entries.items()))


def test_the_mirror_never_deletes_a_students_file(mirror, data_root, capsys):
    notes = data_root / 'nietzsche' / 'my_notes.txt'
    notes.parent.mkdir(parents=True)
    notes.write_text('my own notes, an hour of work')          # the data file itself is missing
    path = get_data('nietzsche')
    assert (path / 'nietzsche.txt').read_bytes() == TEXT
    aside = [p for p in data_root.iterdir() if p.name.startswith('nietzsche.before-')]
    assert len(aside) == 1 and (aside[0] / 'my_notes.txt').read_text() == 'my own notes, an hour of work'
    assert str(aside[0]) in capsys.readouterr().out               # and says where it went


def test_a_folder_of_only_the_courses_files_is_simply_replaced(mirror, data_root):
    (data_root / 'nietzsche').mkdir(parents=True)                # an empty, incomplete folder
    get_data('nietzsche')
    assert sorted(p.name for p in data_root.iterdir() if not p.name.startswith('.')) == ['nietzsche']


def test_a_mirror_without_sums_is_reported_unchecked(mirror, data_root, capsys):
    get_data('nietzsche')
    assert 'UNCHECKED' in capsys.readouterr().out
    row = next(r for r in list_data() if r['name'] == 'nietzsche')
    assert 'UNCHECKED' in row['origin']
    banner()
    assert 'UNCHECKED' in capsys.readouterr().out


def test_a_mirror_with_sums_copies_only_listed_files_and_no_links(mirror, data_root, tmp_path, capsys):
    (mirror / 'nietzsche' / 'extra.bin').write_bytes(b'not listed')
    secret = tmp_path / 'secret.txt'
    secret.write_text('outside the mirror')
    (mirror / 'nietzsche' / 'link.txt').symlink_to(secret)
    write_sums(mirror, {'nietzsche/nietzsche.txt': hashlib.sha256(TEXT).hexdigest()})
    path = get_data('nietzsche')
    assert sorted(p.name for p in path.iterdir()) == ['nietzsche.txt']
    out = capsys.readouterr().out
    assert 'checked against SHA256SUMS' in out and '1 link not followed' in out
    banner()
    assert 'UNCHECKED' not in capsys.readouterr().out


def test_a_listed_link_or_an_entry_outside_the_mirror_is_refused(mirror, data_root, tmp_path):
    secret = tmp_path / 'secret.txt'
    secret.write_text('outside the mirror')
    (mirror / 'nietzsche' / 'nietzsche.txt').unlink()
    (mirror / 'nietzsche' / 'nietzsche.txt').symlink_to(secret)
    write_sums(mirror, {'nietzsche/nietzsche.txt': hashlib.sha256(b'outside the mirror').hexdigest()})
    with pytest.raises(DataError, match='through a link'):
        get_data('nietzsche')
    assert not (data_root / 'nietzsche').exists()
    write_sums(mirror, {'nietzsche/../../secret.txt': 'ab' * 32})
    with pytest.raises(DataError, match='outside the mirror'):
        get_data('nietzsche')
