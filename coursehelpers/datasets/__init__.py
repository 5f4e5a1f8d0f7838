"""The data registry: every data set, found in the data root, a local mirror or the network.

- `registry.py`: the data sets and their variants (`DATASETS`), `get_data`, `list_data`, the
  mirror, the sample cuts, and which data this process used (`data_used`);
- `download.py`: verified, resumable downloads and safe unpacking (`DataError`);
- `kaggle.py`: Kaggle competition files through the official `kaggle` package.
"""
from . import download as _download
from . import kaggle as _kaggle
from . import registry as _registry
from .download import *
from .kaggle import *
from .registry import *

__all__ = sorted({*_registry.__all__, *_download.__all__, *_kaggle.__all__})
