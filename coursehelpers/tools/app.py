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
        thumb: the largest side of the picture shown, in pixels.
    Attributes: `widget` (the box to display), `upload` (the FileUpload), `button`,
    `picture` (hidden while there is no photo to show), `result` (an HTML widget with the
    answer or the problem) and `result_text` (the same answer as plain text).

    >>> app = ClassifierApp(load_learner('models/export.safetensors'))   # doctest: +SKIP
    >>> app.classify(open('cat.jpg', 'rb').read(), 'cat.jpg'); app.result_text  # doctest: +SKIP
    'cats with probability 0.998 (cat.jpg)'

    Used in lesson 07.
    """

    def __init__(self, predictor, thumb=256):
        self.predictor, self.thumb = predictor, thumb
        self.upload = widgets.FileUpload(accept='image/*', multiple=False, icon='upload',
                                         description='Upload a photo',
                                         layout=widgets.Layout(width='auto', min_width='180px'))
        self.button = widgets.Button(description='Classify', button_style='primary')
        self.picture = widgets.Image(format='png', layout=widgets.Layout(max_width=f'{thumb}px'))
        self.result = widgets.HTML()
        self.button.on_click(lambda _: self.classify_upload())
        self.upload.observe(lambda _: self.classify_upload(), names='value')
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.button]),
                                    self.picture, self.result])
        self._show(None, 'Upload a photo, then press Classify.')

    @property
    def result_text(self):
        """The answer or the problem shown last, as plain text (what `result` shows in HTML)."""
        return self._text

    def classify_upload(self):
        """Classify the last uploaded file (the callback of the upload and the button)."""
        if not self.upload.value:
            self._show(None, 'No file uploaded yet: press "Upload a photo" first.')
            return None
        f = self.upload.value[-1]
        return self.classify(bytes(f['content']), f.get('name', 'upload'))

    def classify(self, data, name='image'):
        """Classify the image in `data` (bytes); show and return (label, index, probs), or None.

        A file that is not an image shows a message in the app (and no picture) and
        returns None.
        """
        try:
            label, index, probs = self.predictor.predict(data)
        except ImageError as e:
            self._show(None, f'{name} is not a photo I can read. {e}',
                       f'<b style="color:#b00">{html.escape(name)} is not a photo I can read.'
                       f'</b> <small>{html.escape(str(e))}</small>')
            return None
        if isinstance(index, list):                       # multi-label: every tag found
            found = [(str(self.predictor.classes[i]), float(probs[i])) for i in index]
        else:
            found = [(str(label), float(probs[index]))]
        text = ', '.join(f'{c} with probability {p:.3f}' for c, p in found) or 'no tag found'
        answer = ', '.join(f'<b>{html.escape(c)}</b> with probability {p:.3f}' for c, p in found)
        self._show(thumbnail_png(io.BytesIO(data), self.thumb), f'{text} ({name})',
                   f'{answer or "no tag found"} <small>({html.escape(name)})</small>')
        return label, index, probs

    def _show(self, png, text, markup=None):
        """Show the picture `png` (bytes; None hides it) and the answer as `text` and HTML."""
        self.picture.value = png or b''
        self.picture.layout.display = None if png else 'none'   # never an empty, broken image
        self._text = text
        self.result.value = html.escape(text) if markup is None else markup

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
