"""Downloads and unpacking against a real HTTP server on 127.0.0.1 serving real archives."""
import io
import json
import tarfile
import zipfile

import pytest
from PIL import Image

from coursehelpers.datasets import registry
from coursehelpers.datasets.download import DataError, download, safe_extract, sha256sum
from coursehelpers.datasets.registry import get_data


@pytest.fixture
def unpublished(monkeypatch):
    """The registry with no published checksums, so the test server's small archives stand in
    for the real ones (every source is then trusted on first use)."""
    import dataclasses
    for name, variants in registry.DATASETS.items():
        monkeypatch.setitem(registry.DATASETS, name, {
            v: dataclasses.replace(src, **{f.name: None for f in dataclasses.fields(src)
                                           if f.name in ('checksum', 'size', 'checksum_from')})
            for v, src in variants.items()})


def jpeg_bytes(color):
    buf = io.BytesIO()
    Image.new('RGB', (8, 8), color).save(buf, 'JPEG')
    return buf.getvalue()


def make_tgz(members):
    """A .tgz in memory from {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def dogscats_archive(n=4):
    members = {}
    for split in ('train', 'valid'):
        for cls, color in (('cats', 'red'), ('dogs', 'blue')):
            for i in range(n):
                members[f'dogscats/{split}/{cls}/{cls[:-1]}.{i}.jpg'] = jpeg_bytes(color)
    members['dogscats/test1/1.jpg'] = jpeg_bytes('green')
    return make_tgz(members)


def test_good_archive_is_fetched_cut_and_hash_recorded(server, data_root, monkeypatch, unpublished):
    server.files['dogscats.tgz'] = dogscats_archive()
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    path = get_data('dogscats')
    assert path == data_root / 'dogscats'
    assert sorted(p.name for p in (path / 'train' / 'cats').iterdir()) == [f'cat.{i}.jpg' for i in range(4)]
    assert not (path / 'test1').exists()                   # the sample keeps train and valid only
    book = json.loads((data_root / '.downloads' / 'sha256.json').read_text())
    assert book[f'{server.url}/dogscats.tgz'] == sha256sum(data_root / '.downloads' / 'dogscats.tgz')
    n = len(server.requests)
    assert get_data('dogscats') == path and len(server.requests) == n   # second call: data root
    assert not [p for p in data_root.iterdir() if 'staging' in p.name or p.name.startswith('.dogscats')]


def test_changed_upstream_fails_the_recorded_hash(server, data_root, monkeypatch, unpublished):
    server.files['dogscats.tgz'] = dogscats_archive()
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    get_data('dogscats')
    recorded = sha256sum(data_root / '.downloads' / 'dogscats.tgz')
    (data_root / '.downloads' / 'dogscats.tgz').unlink()
    import shutil
    shutil.rmtree(data_root / 'dogscats')
    server.files['dogscats.tgz'] = dogscats_archive(n=5)   # upstream changed behind our back
    with pytest.raises(DataError) as e:
        get_data('dogscats')
    msg = str(e.value)
    assert f'{server.url}/dogscats.tgz' in msg and recorded in msg
    assert sha256sum_of(server.files['dogscats.tgz']) in msg
    assert not (data_root / 'dogscats').exists()
    assert not list((data_root / '.downloads').glob('*.part'))


def sha256sum_of(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def test_tampered_download_names_url_and_both_hashes(server, tmp_path):
    good = b'the real archive' * 1000
    server.files['x.tgz'] = good[:-1] + b'!'
    dest = tmp_path / 'dl' / 'x.tgz'
    with pytest.raises(DataError) as e:
        download(f'{server.url}/x.tgz', dest, sha256=sha256sum_of(good))
    msg = str(e.value)
    assert f'{server.url}/x.tgz' in msg
    assert sha256sum_of(good) in msg and sha256sum_of(server.files['x.tgz']) in msg
    assert list((tmp_path / 'dl').iterdir()) == []          # neither the file nor a .part is left


def test_cut_transfer_is_resumed(server, tmp_path):
    body = bytes(range(256)) * 4000
    server.files['big.bin'] = body
    server.cut_first = 1
    dest = download(f'{server.url}/big.bin', tmp_path / 'big.bin', sha256=sha256sum_of(body))
    assert dest.read_bytes() == body
    assert server.requests[0][1] is None and server.requests[1][1] == f'bytes={len(body) // 2}-'
    assert not (tmp_path / 'big.bin.part').exists()


def test_transfer_that_keeps_failing_leaves_no_data_set(server, data_root, monkeypatch):
    server.files['dogscats.tgz'] = dogscats_archive()
    server.cut_first = 100
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    with pytest.raises(DataError) as e:
        get_data('dogscats')
    assert 'connection closed' in str(e.value)
    assert not (data_root / 'dogscats').exists()
    assert not (data_root / '.downloads' / 'dogscats.tgz').exists()


def evil_tar(tmp_path, kind):
    path = tmp_path / f'{kind}.tar'
    with tarfile.open(path, 'w') as tf:
        ok = tarfile.TarInfo('pkg/ok.txt')
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b'ok'))
        if kind in ('dotdot', 'absolute'):
            info = tarfile.TarInfo('pkg/../../x' if kind == 'dotdot' else '/etc/x')
            info.size = 4
            tf.addfile(info, io.BytesIO(b'evil'))
        else:
            info = tarfile.TarInfo('pkg/link')
            info.type = tarfile.SYMTYPE if kind == 'symlink' else tarfile.LNKTYPE
            info.linkname = '../../outside' if kind == 'symlink' else '../outside'
            tf.addfile(info)
    return path


@pytest.mark.parametrize('kind', ['dotdot', 'absolute', 'symlink', 'hardlink'])
def test_unsafe_archives_are_refused_whole(tmp_path, kind):
    archive = evil_tar(tmp_path, kind)
    work = tmp_path / 'work'
    work.mkdir()
    with pytest.raises(DataError, match='Refusing to unpack'):
        safe_extract(archive, work / 'out')
    assert list(work.iterdir()) == []                       # nothing unpacked, not even ok.txt
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, 'work'])


def test_zip_with_dotdot_is_refused(tmp_path):
    archive = tmp_path / 'evil.zip'
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr('../evil.txt', 'x')
    with pytest.raises(DataError, match='outside'):
        safe_extract(archive, tmp_path / 'out')
    assert not (tmp_path / 'evil.txt').exists() and not (tmp_path / 'out').exists()


def test_mirror_is_used_without_any_request(server, data_root, monkeypatch, shared_data):
    server.files['imdb_sample.tgz'] = b'never served'
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    monkeypatch.setenv('COURSE_DATA_MIRROR', str(shared_data))
    path = get_data('imdb')
    assert (path / 'texts.csv').read_bytes() == (shared_data / 'imdb_sample' / 'texts.csv').read_bytes()
    assert server.requests == []
    (path / 'extra.txt').write_text('the copy is writable')   # the copy is ours, the mirror untouched
    assert not (shared_data / 'imdb_sample' / 'extra.txt').exists()


def test_nothing_anywhere_lists_all_three_places(data_root, monkeypatch, tmp_path):
    monkeypatch.setenv('COURSE_DATA_MIRROR', str(tmp_path / 'empty-mirror'))
    monkeypatch.setenv('COURSE_DATA_URL', 'http://127.0.0.1:9')   # discard port: nothing listens
    with pytest.raises(DataError) as e:
        get_data('nietzsche')
    msg = str(e.value)
    assert str(data_root / 'nietzsche') in msg and 'COURSE_DATA' in msg
    assert str(tmp_path / 'empty-mirror' / 'nietzsche') in msg and 'COURSE_DATA_MIRROR' in msg
    assert 'http://127.0.0.1:9/nietzsche.txt' in msg


def test_single_file_data_set_and_upstream_sample_rename(server, data_root, monkeypatch, unpublished):
    text = b'PREFACE\n\nSUPPOSING that Truth is a woman--what then?\n'
    planet = make_tgz({'planet_sample/labels.csv': b'image_name,tags\ntrain_1,clear primary\n',
                       'planet_sample/train/train_1.jpg': jpeg_bytes('green')})
    server.files.update({'nietzsche.txt': text, 'planet_sample.tgz': planet})
    monkeypatch.setenv('COURSE_DATA_URL', server.url)
    assert (get_data('nietzsche') / 'nietzsche.txt').read_bytes() == text
    path = get_data('planet')
    assert (path / 'train_v2.csv').exists() and (path / 'train-jpg' / 'train_1.jpg').exists()


def test_unknown_data_set_and_kaggle_messages(data_root, monkeypatch, tmp_path):
    with pytest.raises(DataError, match='Known: dogscats'):
        get_data('dogs')
    monkeypatch.setenv('KAGGLE_CONFIG_DIR', str(tmp_path / 'kaggle'))
    monkeypatch.delenv('KAGGLE_USERNAME', raising=False)
    from coursehelpers.datasets.kaggle import kaggle_credentials
    with pytest.raises(DataError) as e:
        kaggle_credentials()
    assert str(tmp_path / 'kaggle' / 'kaggle.json') in str(e.value) and 'chmod 600' in str(e.value)
    with pytest.raises(DataError, match='kaggle'):
        get_data('planet', 'full')
