"""A small classifier app inside the notebook: upload a photo, see the label and its probability.

Built from ipywidgets, so it runs in JupyterLab as it is, and the same notebook can
be served as a web page (see lesson 07). A file that is not an image gets a message
in the app, never a traceback.

>>> app = ClassifierApp(load_learner('models/export.safetensors'))   # doctest: +SKIP
>>> app                                                               # doctest: +SKIP

Used in lesson 07.
"""
import html
import io

import ipywidgets as widgets

from ..vision.files import ImageError, thumbnail_png

__all__ = ['ClassifierApp']


class ClassifierApp:
    """Upload -> classify -> show the image, the label and its probability.

    Args:
        predictor: anything with `predict(image_bytes) -> (label, index, probs)` and
            `classes`, e.g. what `load_learner` returns.
    Attributes: `widget` (the box to display), `upload` (the FileUpload),
    `button`, `picture`, `result` (an HTML widget with the answer or the problem).

    Used in lesson 07.
    """

    def __init__(self, predictor, thumb=256):
        self.predictor, self.thumb = predictor, thumb
        self.upload = widgets.FileUpload(accept='image/*', multiple=False,
                                         description='Upload a photo')
        self.button = widgets.Button(description='Classify', button_style='primary')
        self.picture = widgets.Image(format='png', layout=widgets.Layout(max_width=f'{thumb}px'))
        self.result = widgets.HTML('Upload a photo, then press Classify.')
        self.button.on_click(lambda _: self.classify_upload())
        self.upload.observe(lambda _: self.classify_upload(), names='value')
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.button]),
                                    self.picture, self.result])

    def classify_upload(self):
        """Classify the last uploaded file (the callback of the upload and the button)."""
        if not self.upload.value:
            self.result.value = 'No file uploaded yet: press "Upload a photo" first.'
            return None
        f = self.upload.value[-1]
        return self.classify(bytes(f['content']), f.get('name', 'upload'))

    def classify(self, data, name='image'):
        """Classify the image in `data` (bytes); show and return (label, index, probs), or None.

        A file that is not an image shows a message in the app and returns None.
        """
        try:
            label, index, probs = self.predictor.predict(data)
        except ImageError as e:
            self.picture.value = b''
            self.result.value = (f'<b style="color:#b00">{html.escape(name)} is not a photo I '
                                 f'can read.</b> <small>{html.escape(str(e))}</small>')
            return None
        self.picture.value = thumbnail_png(io.BytesIO(data), self.thumb)
        if isinstance(index, list):                       # multi-label: every tag found
            answer = ', '.join(f'<b>{html.escape(str(self.predictor.classes[i]))}</b> '
                               f'{float(probs[i]):.3f}' for i in index) or 'no tag found'
        else:
            answer = (f'<b>{html.escape(str(label))}</b> with probability '
                      f'{float(probs[index]):.3f}')
        self.result.value = f'{answer} <small>({html.escape(name)})</small>'
        return label, index, probs

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
