"""Export a trained image classifier to one file, and load it anywhere to predict.

The file is a safetensors file: the weights as raw tensors plus a JSON header that
says how to rebuild the model (architecture, classes, image size, normalisation,
the versions that wrote it). Nothing in it is pickled, so opening a downloaded
model file cannot run code. A checksum over the weights and the metadata makes a
truncated or edited file fail loudly instead of predicting nonsense.

>>> export(learn, 'models/pets.safetensors')           # doctest: +SKIP
>>> clf = load_learner('models/pets.safetensors')       # doctest: +SKIP
>>> clf.predict('my_cat.jpg')                            # doctest: +SKIP
('cats', 0, tensor([0.9731, 0.0269]))

Used in lesson 07.
"""
import hashlib
import io
import json
import os
import time
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..env.distributed import barrier, is_main
from ..env.version import __version__
from ..vision.files import ImageError, open_image, to_rgb
from ..vision.models import ARCHS, CNN, create_cnn
from ..vision.transforms import ImageTransform, valid_tfms

__all__ = ['FORMAT', 'FORMAT_VERSION', 'ExportError', 'export', 'load_learner', 'read_metadata',
           'ImagePredictor']

FORMAT, FORMAT_VERSION = 'coursehelpers-image-classifier', 1


class ExportError(ValueError):
    """A model file that cannot be loaded: not an export, damaged, edited, or too new."""


def _image_size(tfm):
    """The image side of a validation `ImageTransform` (`valid_tfms`)."""
    if isinstance(tfm, ImageTransform) and tfm.augment is None:
        return int(tfm.size)
    raise ExportError(f'The validation transform {tfm!r} is not a valid_tfms transform: export '
                      'supports loaders built with ImageDataLoaders (valid_tfms).')


def _checksum(meta_json, tensors):
    """sha256 over the metadata JSON and every tensor (name, dtype, shape, bytes), by name."""
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f'{name}|{t.dtype}|{tuple(t.shape)}'.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def export(learn, file):
    """Write `learn`'s CNN and what it needs to predict to one safetensors file; return its path.

    Holds: the weights (as float32 tensors), the architecture, classes, image size,
    normalisation (mean, std), whether it is multi-label, and the package and torch
    versions. Written to a temporary file and renamed, so a crash leaves no half file.

    Args:
        learn: a Learner whose model comes from `create_cnn` / `cnn_learner`.
        file: where to write, e.g. 'models/export.safetensors'.

    >>> export(learn, learn.path / 'export.safetensors')   # doctest: +SKIP

    Used in lesson 07.
    """
    model = learn.model
    if not isinstance(model, CNN):
        raise ExportError(f'export saves CNNs made by create_cnn or cnn_learner; this model is a '
                          f'{type(model).__name__}. Save it with learn.save(name) instead.')
    dls = learn.dls
    meta = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'arch': model.arch,
            'classes': [str(c) for c in dls.classes], 'multi_label': bool(dls.multi_label),
            'size': _image_size(dls.valid_ds.tfm),
            'stats': [list(map(float, s)) for s in model.stats],
            'coursehelpers_version': __version__, 'torch_version': torch.__version__,
            'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    tensors = {k: v.detach().float().cpu().contiguous() if v.is_floating_point()
               else v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta_json = json.dumps(meta, sort_keys=True)
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    part = file.with_name(file.name + '.part')
    if is_main():                          # under torchrun, rank 0 writes; all wait for it
        save_file(tensors, str(part), metadata={'format': FORMAT, 'meta': meta_json,
                                                'sha256': _checksum(meta_json, tensors)})
        os.replace(part, file)
    barrier()
    return file


def _looks_pickled(file):
    """True when `file` starts like a torch.save zip or a pickle (never unpickled here)."""
    with open(file, 'rb') as f:
        head = f.read(2)
    return head == b'PK' or (head[:1] == b'\x80' and head[1:2] in b'\x02\x03\x04\x05')


def read_metadata(file):
    """The JSON metadata of an export file (a dict), after checking what it claims to be.

    Raises ExportError for a file that is missing, not an export, damaged or too new.

    Used in lesson 07.
    """
    file = Path(file)
    if not file.is_file():
        raise ExportError(f'No model file at {file}. Export one with export(learn, {str(file)!r}).')
    try:
        with safe_open(str(file), framework='pt') as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        if _looks_pickled(file):
            raise ExportError(f'{file} is a pickle or torch.save file, not an export. It was NOT '
                              'opened: unpickling a file from elsewhere can run any code on your '
                              'machine. Ask for the .safetensors file that export() writes.') from e
        raise ExportError(f'{file} is not a readable export (truncated or damaged: {e}). '
                          'Export or copy it again.') from e
    if header.get('format') != FORMAT:
        raise ExportError(f'{file} is a safetensors file but not a coursehelpers export '
                          f'(format {header.get("format")!r}, expected {FORMAT!r}).')
    try:
        meta = json.loads(header['meta'])
    except (KeyError, json.JSONDecodeError) as e:
        raise ExportError(f'The metadata of {file} is missing or not valid JSON: the file was '
                          'edited or damaged. Export it again.') from e
    if int(meta.get('format_version', 0)) > FORMAT_VERSION:
        raise ExportError(f'{file} was written in export format {meta["format_version"]} by '
                          f'coursehelpers {meta.get("coursehelpers_version")}; this version '
                          f'({__version__}) reads format {FORMAT_VERSION} and older. Update: '
                          'pip install -U coursehelpers (or git pull the course).')
    if meta.get('arch') not in ARCHS:
        raise ExportError(f'{file} is for the architecture {meta.get("arch")!r}, which this '
                          f'version does not know (known: {sorted(ARCHS)}).')
    return {**meta, '_sha256': header.get('sha256'), '_meta_json': header['meta']}


def load_learner(file, device='cpu'):
    """Load an export file into an `ImagePredictor` on `device` (the CPU by default).

    Only tensors and JSON are read: no pickle, so a file from elsewhere cannot run code.
    Raises ExportError when the file is not an export, is truncated or edited (the
    checksum does not match), was written by a newer format, or names an unknown model.

    >>> clf = load_learner('models/export.safetensors')     # doctest: +SKIP
    >>> label, index, probs = clf.predict('cat.jpg')         # doctest: +SKIP

    Used in lesson 07.
    """
    meta = read_metadata(file)
    try:
        with safe_open(str(file), framework='pt', device='cpu') as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ExportError(f'The weights in {file} cannot be read ({e}): the file is truncated '
                          'or damaged. Export or copy it again.') from e
    if _checksum(meta['_meta_json'], tensors) != meta['_sha256']:
        raise ExportError(f'{file} does not match its checksum: its weights or metadata were '
                          'changed after export (or the copy is damaged). Export it again.')
    model = create_cnn(meta['arch'], len(meta['classes']), pretrained=False)
    model.load_state_dict(tensors)
    return ImagePredictor(model.to(device).eval(), meta, device)


class ImagePredictor:
    """A loaded export: `predict(image)` -> (label, index, probabilities).

    Attributes: `model` (in eval mode), `classes`, `size`, `stats`, `multi_label`,
    `tfm` (the validation transform), `meta` (everything the file said), `device`.

    Used by `load_learner` (lesson 07).
    """

    def __init__(self, model, meta, device='cpu', thresh=0.5):
        self.model, self.meta, self.device, self.thresh = model, meta, torch.device(device), thresh
        self.classes, self.multi_label = meta['classes'], meta['multi_label']
        self.size, self.stats = meta['size'], tuple(tuple(s) for s in meta['stats'])
        self.tfm = valid_tfms(self.size, self.stats)

    def _image(self, item):
        """A path, raw bytes or PIL image -> an RGB PIL image (ImageError if unreadable)."""
        if isinstance(item, Image.Image):
            return to_rgb(item)
        if isinstance(item, (bytes, bytearray, memoryview)):
            try:
                return open_image(io.BytesIO(bytes(item)))
            except ImageError as e:
                why = str(e.__cause__)
                why = 'its format is not one PIL knows' if 'cannot identify' in why else why
                raise ImageError(f'These {len(item)} bytes are not an image I can read '
                                 f'({why}). Use a JPEG or PNG photo.') from None
        return open_image(item)

    @torch.no_grad()
    def predict_batch(self, items):
        """Probabilities (N x classes, CPU) for a list of images (paths, bytes or PIL images)."""
        x = torch.stack([self.tfm(self._image(it)) for it in items]).to(self.device)
        out = self.model(x).float()
        # the Learner's own rule (log-softmax, then exp), so both give identical numbers
        probs = torch.sigmoid(out) if self.multi_label else torch.log_softmax(out, dim=1).exp()
        return probs.cpu()

    def predict(self, item):
        """One image -> (label, index, probabilities over `classes`).

        Multi-label: the label and index are lists, every class with probability >= `thresh`.

        >>> clf.predict('data/dogscats/valid/cats/cat.1001.jpg')   # doctest: +SKIP
        ('cats', 0, tensor([0.9914, 0.0086]))
        """
        probs = self.predict_batch([item])[0]
        if self.multi_label:
            idx = [i for i, p in enumerate(probs.tolist()) if p >= self.thresh]
            return [self.classes[i] for i in idx], idx, probs
        idx = int(probs.argmax())
        return self.classes[idx], idx, probs

    def __repr__(self):
        return (f"ImagePredictor({self.meta['arch']}, {len(self.classes)} classes, "
                f"size {self.size}, on {self.device})")
