"""Lesson tools over the applications, in one import: `from coursehelpers.tools import *`.

- `interpret.py`: what a classifier got right and wrong (lesson 01);
- `summary.py`: a model layer by layer; `submission.py`: the Kaggle file (lesson 02);
- `export.py`: one safe file to predict anywhere; `app.py`: the classifier app;
- `cleaner.py`: review and fix a labelled image folder; `web_images.py`: images from URLs
  (lesson 07).
"""
from . import app as _app
from . import cleaner as _cleaner
from . import export as _export
from . import interpret as _interpret
from . import submission as _submission
from . import summary as _summary
from . import web_images as _web_images
from .app import *
from .cleaner import *
from .export import *
from .interpret import *
from .submission import *
from .summary import *
from .web_images import *

__all__ = [*_interpret.__all__, *_summary.__all__, *_submission.__all__, *_export.__all__,
           *_app.__all__, *_cleaner.__all__, *_web_images.__all__]
