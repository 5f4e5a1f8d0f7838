"""The data registry: every data set, found in the data root, a local mirror or the network.

- `registry.py`: the data sets and their variants (`DATASETS`) with their published checksums,
  `get_data`, `list_data`, the sample cuts, and which data this process used (`data_used`);
- `mirror.py`: copies from the local mirror, checked against its SHA256SUMS when it has one;
- `download.py`: verified, resumable downloads, safe unpacking, and the checks of URLs and
  archive members (`DataError`);
- `kaggle.py`: Kaggle competition files through the official `kaggle` package;
- `standins.py`: stand-ins for the full data sets, made from the samples (`data standin`), by
  `standin_images.py` (dogs vs cats, Planet) and `standin_text_tables.py` (Rossmann, IMDB).
"""
from . import download as _download
from . import kaggle as _kaggle
from . import mirror as _mirror
from . import registry as _registry
from . import standins as _standins
from .download import *
from .kaggle import *
from .mirror import *
from .registry import *
from .standins import *

__all__ = sorted({*_registry.__all__, *_download.__all__, *_kaggle.__all__, *_mirror.__all__,
                  *_standins.__all__})
