"""Nothing is trusted by accident: cut bodies (with or without a length, chunked or not) are
resumed and never accepted, a resume never splices two versions, a damaged first download
is never pinned, every source says which checksum it is verified against. A real HTTP
server on 127.0.0.1 (tests/conftest.py) misbehaves on request."""
import hashlib
import json
import os

import pytest
from test_download import dogscats_archive, make_tgz, unpublished  # noqa: F401 (a fixture)

from coursehelpers.datasets.download import DataError, NetworkError, download, sha256sum
from coursehelpers.datasets.registry import DATASETS, get_data, list_data


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize('framing', ['length', 'close', 'chunked'])
def test_a_cut_body_is_resumed_never_accepted(server, tmp_path, framing):
    body = os.urandom(300_000)
    server.files['big.bin'] = body
    server.framing, server.cut_first = framing, 1
    dest = download(f'{server.url}/big.bin', tmp_path / 'big.bin')        # no checksum to lean on
    assert dest.read_bytes() == body
    assert server.requests[1][1] == f'bytes={len(body) // 2}-'            # resumed where it stopped
    assert not list(tmp_path.glob('*.part*'))


def test_a_body_without_length_is_confirmed_before_it_is_accepted(server, tmp_path):
    server.files['x.txt'] = b'complete' * 1000
    server.framing = 'close'
    assert download(f'{server.url}/x.txt', tmp_path / 'x.txt').read_bytes() == server.files['x.txt']
    assert server.requests[-1][1] == f'bytes={8000}-'                     # the probe past the end


def test_a_resume_after_the_upstream_changed_starts_again(server, tmp_path):
    old, new = b'A' * 200_000, b'B' * 200_000
    server.files['f.bin'] = old
    server.cut_first = 1
    with pytest.raises(NetworkError) as e:
        download(f'{server.url}/f.bin', tmp_path / 'f.bin', retries=0)
    assert 'resume' in str(e.value) and (tmp_path / 'f.bin.part').stat().st_size == 100_000
    server.files['f.bin'] = new                                           # changed upstream
    assert download(f'{server.url}/f.bin', tmp_path / 'f.bin').read_bytes() == new   # not A..AB..B
    assert server.requests[-1][1] == 'bytes=100000-'                      # asked, with If-Range


def test_a_published_md5_is_checked_over_the_whole_file(server, tmp_path):
    server.files['x.tgz'] = b'real' * 1000
    good = hashlib.md5(b'real' * 1000).hexdigest()
    assert download(f'{server.url}/x.tgz', tmp_path / 'a.tgz', checksum=f'md5:{good}', size=4000)
    server.files['x.tgz'] = b'fake' * 1000
    with pytest.raises(DataError, match=f'expected md5 {good}'):
        download(f'{server.url}/x.tgz', tmp_path / 'b.tgz', checksum=f'md5:{good}')
    assert not (tmp_path / 'b.tgz').exists() and not (tmp_path / 'b.tgz.part').exists()


def test_a_full_disk_says_no_space_not_network(server, tmp_path):
    if not os.path.exists('/dev/full'):
        pytest.skip('needs /dev/full, which fails every write with ENOSPC')
    server.files['x.bin'] = b'x' * 10_000
    (tmp_path / 'x.bin.part').symlink_to('/dev/full')                     # every write: disk full
    with pytest.raises(DataError) as e:
        download(f'{server.url}/x.bin', tmp_path / 'x.bin')
    assert 'No space left' in str(e.value) and 'internet' not in str(e.value)
    assert not isinstance(e.value, NetworkError)


def test_a_damaged_first_download_is_deleted_never_pinned(server, data_root, monkeypatch, unpublished):
    good = dogscats_archive()
    server.files['dogscats.tgz'] = good[:len(good) // 2]                 # upstream served a cut file
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    with pytest.raises(DataError) as e:
        get_data('dogscats')
    assert 'damaged' in str(e.value) and 'deleted' in str(e.value)
    book = data_root / '.downloads' / 'sha256.json'
    assert not book.exists() or f'{server.url}/dogscats.tgz' not in json.loads(book.read_text())
    assert not (data_root / '.downloads' / 'dogscats.tgz').exists()
    server.files['dogscats.tgz'] = good                                    # upstream fixed
    assert (get_data('dogscats') / 'train' / 'cats').is_dir()
    assert json.loads(book.read_text())[f'{server.url}/dogscats.tgz'] == sha(good)


def test_a_cut_first_download_without_length_is_resumed_then_recorded(server, data_root, monkeypatch,
                                                                       unpublished):
    good = dogscats_archive()
    server.files['dogscats.tgz'] = good
    server.framing, server.cut_first = 'close', 1
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    get_data('dogscats')
    assert sha256sum(data_root / '.downloads' / 'dogscats.tgz') == sha(good)


def test_an_archive_with_the_wrong_layout_is_not_recorded(server, data_root, monkeypatch, unpublished):
    server.files['nietzsche.txt'] = b''                                   # empty: layout check fails
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    server.files['rossmann.tgz'] = make_tgz({'rossmann/train.csv': b'a\n1\n'})
    with pytest.raises(DataError, match='lacks'):
        get_data('rossmann')
    assert not (data_root / '.downloads' / 'rossmann.tgz').exists()
    assert not (data_root / '.downloads' / 'sha256.json').exists()


def test_data_list_names_every_checksum_and_its_source(data_root):
    rows = list_data()
    assert len(rows) == sum(len(v) for v in DATASETS.values())
    for r in rows:
        assert r['checksum_from']
        if r['checksum']:
            algo, _, digest = r['checksum'].partition(':')
            assert algo in ('md5', 'sha256') and len(digest) in (32, 64)
            assert 'checks.txt' in r['checksum_from'] or 'tensorflow_datasets' in r['checksum_from']
        else:
            assert 'no published checksum' in r['checksum_from']
    by = {(r['name'], r['variant'].split()[0]): r for r in rows}
    assert by['dogscats', 'full']['checksum'] == 'md5:3e483c8d6ef2175e9d395a6027eb92b7'
    assert 'trusted on first use' in by['nietzsche', 'full']['checksum_from']
    assert all(src.size for v in DATASETS.values() for src in v.values() if src.checksum)


def test_a_redirect_is_checked_by_check_url(server, tmp_path):
    from coursehelpers.datasets.download import check_url
    from coursehelpers.tools.web_images import SkipImage, download_image
    server.redirects['x.tgz'] = 'file:///etc/passwd'
    with pytest.raises(DataError, match="Refusing redirect from .* 'file:///etc/passwd'"):
        download(f'{server.url}/x.tgz', tmp_path / 'x.tgz', retries=0)
    server.redirects['p.jpg'] = 'file:///etc/passwd'
    with pytest.raises(SkipImage, match='file:///etc/passwd'):
        download_image(f'{server.url}/p.jpg', tmp_path)
    server.files['ok.bin'] = b'ok'
    server.redirects['moved.bin'] = f'{server.url}/ok.bin'
    assert download(f'{server.url}/moved.bin', tmp_path / 'ok.bin').read_bytes() == b'ok'
    for bad in ('ftp://x/y', 'http:///nohost', 'javascript:alert(1)'):
        with pytest.raises(DataError, match='only http'):
            check_url(bad)
