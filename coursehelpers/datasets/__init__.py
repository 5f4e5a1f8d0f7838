"""The data registry: every data set, found in the data root, a local mirror or the network.

- `registry.py`: the data sets and their variants (`DATASETS`), `get_data`, `list_data`, the
  mirror, the sample cuts, and which data this process used (`data_used`);
- `download.py`: verified, resumable downloads and safe unpacking (`DataError`);
- `kaggle.py`: Kaggle competition files through the official `kaggle` package;
- `standins.py`: stand-ins for the full data sets, made from the samples (`data standin`), by
  `standin_images.py` (dogs vs cats, Planet) and `standin_text_tables.py` (Rossmann, IMDB).
"""
from . import download as _download
from . import kaggle as _kaggle
from . import registry as _registry
from . import standins as _standins
from .download import *
from .kaggle import *
from .registry import *
from .standins import *

__all__ = sorted({*_registry.__all__, *_download.__all__, *_kaggle.__all__, *_standins.__all__})
