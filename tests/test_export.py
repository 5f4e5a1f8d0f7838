"""Export / load_learner: one safetensors file, exact predictions in a new process, no pickle."""
import datetime
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from coursehelpers.tools.export import ExportError, export, load_learner, read_metadata
from coursehelpers.tools.app import ClassifierApp
from coursehelpers.training.learner import Learner
from coursehelpers.vision import ImageDataLoaders, model_stats
from coursehelpers.vision.learner import cnn_learner
from conftest import make_folder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    torch.manual_seed(0)
    path = make_folder(tmp_path_factory.mktemp('colours'))
    dls = ImageDataLoaders.from_folder(path, size=32, bs=4, tfms=None, num_workers=0,
                                       stats=model_stats('resnet18'))
    learn = cnn_learner(dls, 'resnet18', pretrained=False, progress=False,
                        path=tmp_path_factory.mktemp('models'))
    learn.fit(1e-3, 1)
    file = export(learn, learn.path / 'export.safetensors')
    return learn, file


def test_metadata_says_how_to_rebuild_and_predict(trained):
    learn, file = trained
    meta = read_metadata(file)
    assert meta['arch'] == 'resnet18' and meta['classes'] == ['blue', 'red']
    assert meta['size'] == 32 and meta['multi_label'] is False
    assert meta['stats'] == [list(s) for s in model_stats('resnet18')]
    assert meta['format_version'] == 1 and meta['coursehelpers_version']
    assert not list(file.parent.glob('*.part'))


def test_a_new_cpu_process_predicts_exactly_the_same_probabilities(trained, tmp_path):
    learn, file = trained
    log_probs, _ = learn.get_preds()
    paths = [str(p) for p in learn.dls.valid_ds.paths]
    out = tmp_path / 'probs.safetensors'
    code = ('import sys, torch; from safetensors.torch import save_file\n'
            'from coursehelpers.tools import load_learner\n'
            'clf = load_learner(sys.argv[1]); paths = sys.argv[3:]\n'
            'probs = torch.cat([clf.predict_batch(paths[i:i + 4]) for i in range(0, len(paths), 4)])\n'
            'save_file({"probs": probs}, sys.argv[2])\n'
            'print(clf.predict(paths[0])[:2])')
    run = subprocess.run([sys.executable, '-c', code, str(file), str(out), *paths],
                         capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={'CUDA_VISIBLE_DEVICES': '', 'PATH': '/usr/bin:/bin'})
    assert run.returncode == 0, run.stderr
    from safetensors.torch import load_file
    probs = load_file(out)['probs']
    assert torch.equal(probs, log_probs.exp())
    label, index = eval(run.stdout.strip())
    assert label == ['blue', 'red'][index] and index == int(log_probs[0].argmax())


class RunsCode:
    """Unpickling this creates a marker file: what a malicious model file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize('kind', ['torch.save', 'pickle'])
def test_a_pickle_that_would_run_code_is_refused_unopened(tmp_path, kind):
    marker = tmp_path / 'pwned'
    file = tmp_path / 'model.safetensors'
    if kind == 'torch.save':
        torch.save({'weights': RunsCode(marker)}, file)
    else:
        file.write_bytes(pickle.dumps(RunsCode(marker)))
    if kind == 'pickle':                                   # the file really is armed
        pickle.loads(file.read_bytes())
    else:
        with open(file, 'rb') as f:                        # by name, torch would read safetensors
            torch.load(f, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ExportError, match='NOT opened: unpickling a file from elsewhere can run'):
        load_learner(file)
    assert not marker.exists()


def test_a_truncated_file_is_refused(trained, tmp_path):
    _, file = trained
    data = file.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 20):
        bad = tmp_path / f'cut{cut}.safetensors'
        bad.write_bytes(data[:cut])
        with pytest.raises(ExportError, match='truncated or damaged'):
            load_learner(bad)


def test_edited_weights_or_metadata_fail_the_checksum(trained, tmp_path):
    _, file = trained
    data = bytearray(file.read_bytes())
    weights = bytearray(data)
    weights[-5] ^= 0xFF                                      # one byte of the last tensor
    (tmp_path / 'w.safetensors').write_bytes(weights)
    with pytest.raises(ExportError, match='does not match its checksum'):
        load_learner(tmp_path / 'w.safetensors')
    header = bytes(data).replace(b'\\"blue\\"', b'\\"bleu\\"', 1)   # same length: still parses
    assert header != bytes(data)
    (tmp_path / 'm.safetensors').write_bytes(header)
    with pytest.raises(ExportError, match='does not match its checksum'):
        load_learner(tmp_path / 'm.safetensors')


def write_export(file, **changes):
    meta = {'format': 'coursehelpers-image-classifier', 'format_version': 1, 'arch': 'resnet18',
            'classes': ['a', 'b'], 'multi_label': False, 'size': 32,
            'stats': [[0.5] * 3, [0.5] * 3], **changes}
    save_file({'x': torch.zeros(1)}, str(file),
              metadata={'format': 'coursehelpers-image-classifier', 'meta': json.dumps(meta),
                        'sha256': '0'})
    return file


def test_a_newer_format_or_unknown_architecture_is_explained(tmp_path):
    with pytest.raises(ExportError, match='export format 7 .* reads format 1 and older. Update'):
        load_learner(write_export(tmp_path / 'new.safetensors', format_version=7,
                                  coursehelpers_version='9.0'))
    with pytest.raises(ExportError, match="architecture 'vgg99', which this version does not know"):
        load_learner(write_export(tmp_path / 'vgg.safetensors', arch='vgg99'))


def test_other_files_get_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match='No model file at'):
        load_learner(tmp_path / 'missing.safetensors')
    save_file({'x': torch.zeros(1)}, str(tmp_path / 'plain.safetensors'))
    with pytest.raises(ExportError, match='not a coursehelpers export'):
        load_learner(tmp_path / 'plain.safetensors')
    (tmp_path / 'text.safetensors').write_text('hello, I am not a model at all')
    with pytest.raises(ExportError, match='truncated or damaged'):
        load_learner(tmp_path / 'text.safetensors')


def test_only_cnns_export(trained):
    learn, _ = trained
    other = Learner(torch.nn.Linear(2, 2), learn.dls, progress=False)
    with pytest.raises(ExportError, match=r'Save it with learn.save\(name\)'):
        export(other, '/dev/null')


def upload(app, name, data):
    app.upload.value = ({'name': name, 'type': 'image/png', 'size': len(data),
                         'content': memoryview(data),
                         'last_modified': datetime.datetime.now(datetime.timezone.utc)},)


def test_the_app_classifies_an_upload_and_explains_a_non_image(trained):
    learn, file = trained
    clf = load_learner(file)
    app = ClassifierApp(clf)
    assert app.result_text == 'Upload a photo, then press Classify.'
    assert app.picture.layout.display == 'none'           # no photo yet: no empty image
    image = learn.dls.valid_ds.paths[0]
    upload(app, image.name, image.read_bytes())           # the upload's own callback runs
    label, index, probs = clf.predict(image)
    assert f'<b>{label}</b> with probability' in app.result.value
    assert app.result_text == f'{label} with probability {float(probs[index]):.3f} ({image.name})'
    assert app.picture.value[:4] == b'\x89PNG' and app.picture.layout.display != 'none'
    upload(app, 'notes.png', b'<html>not a picture</html>')
    assert 'notes.png is not a photo I can read' in app.result.value
    assert app.result_text == ('notes.png is not a photo I can read. These 26 bytes are not an '
                               'image I can read (its format is not one PIL knows). Use a JPEG '
                               'or PNG photo.')
    assert app.picture.value == b'' and app.picture.layout.display == 'none'
    app.button.click()                                    # the button reruns on the last upload
    assert 'is not a photo I can read' in app.result.value
    app.classify(image.read_bytes(), image.name)          # a photo again: the picture is back
    assert app.picture.layout.display != 'none' and app.picture.value[:4] == b'\x89PNG'


def test_the_app_escapes_names_in_html_but_not_in_its_text(trained):
    learn, file = trained
    app = ClassifierApp(load_learner(file))
    image = learn.dls.valid_ds.paths[0]
    app.classify(image.read_bytes(), 'a<b>&c.png')
    assert '(a&lt;b&gt;&amp;c.png)' in app.result.value and app.result_text.endswith('(a<b>&c.png)')


def test_the_upload_button_is_wide_enough_for_its_label(trained):
    app = ClassifierApp(load_learner(trained[1]))
    assert app.upload.description == 'Upload a photo'
    assert app.upload.layout.width == 'auto'              # sized to its label, not cut
    assert int(app.upload.layout.min_width.removesuffix('px')) >= 180
