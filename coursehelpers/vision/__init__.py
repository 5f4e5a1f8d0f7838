"""Images and CNNs (lessons 01, 02 and 07), in one import: `from coursehelpers.vision import *`.

- `files.py`: open images as RGB, find broken files, resize cache, split folders;
- `transforms.py`: the augmentation (`side_on_tfms`, `top_down_tfms`), `valid_tfms`;
- `data.py`: `ImageDataLoaders.from_folder` / `.from_csv` over `DataBlock`;
- `memory.py`: images decoded once into memory and augmented a whole batch at a time;
- `models.py`: `create_cnn`, `model_stats`, `imagenet_model`;
- `batchnorm_folding.py`: the frozen body's BatchNorm folded into its convolutions;
- `learner.py`: `cnn_learner`, `precomputed` activations;
- `multilabel.py`: the F2 score and its threshold (Planet); `show.py`: image grids.
`KeepBNStats` (from `training/callbacks.py`) comes with them: lessons 01 and 07 use it.
"""
from ..training.callbacks import KeepBNStats
from . import data as _data
from . import files as _files
from . import learner as _learner
from . import models as _models
from . import multilabel as _multilabel
from . import show as _show
from . import transforms as _transforms
from .data import *
from .files import *
from .learner import *
from .models import *
from .multilabel import *
from .show import *
from .transforms import *

__all__ = [*_transforms.__all__, *_data.__all__, *_files.__all__, *_models.__all__,
           *_learner.__all__, *_multilabel.__all__, *_show.__all__, 'KeepBNStats']
