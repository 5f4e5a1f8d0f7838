"""The training core: one Learner for every lesson, and what its loop is made of.

- `learner.py`: `Learner` (`fit`, `one_batch`, `validate`, `lr_find`, freezing, TTA, save);
- `loaders.py`: `DataLoaders`, `BPTTLoader`; `callbacks.py`: events, `KeepBNStats`, errors;
- `schedules.py`: learning-rate shapes (SGDR, one-cycle); `lr_finder.py`: the finder's pieces;
- `layer_groups.py`: groups, differential learning rates, freezing;
- `metrics.py`: metrics and how outputs become predictions;
- `checkpoint.py`: save and load without pickle; `training_log.py`: the epoch table, plots;
- `distributed.py`: under `torchrun`: DDP, sharded training data, exact validation;
- `loop_timing.py`: every batch loop capped (`COURSE_MAX_BATCHES`) and timed (projection).
"""
from . import callbacks as _callbacks
from . import checkpoint as _checkpoint
from . import distributed as _distributed
from . import layer_groups as _layer_groups
from . import learner as _learner
from . import loaders as _loaders
from . import loop_timing as _loop_timing
from . import lr_finder as _lr_finder
from . import metrics as _metrics
from . import schedules as _schedules
from . import training_log as _training_log
from .callbacks import *
from .checkpoint import *
from .distributed import *
from .layer_groups import *
from .learner import *
from .loaders import *
from .loop_timing import *
from .lr_finder import *
from .metrics import *
from .schedules import *
from .training_log import *

__all__ = [*_learner.__all__, *_loaders.__all__, *_callbacks.__all__, *_schedules.__all__,
           *_metrics.__all__, *_checkpoint.__all__, *_lr_finder.__all__, *_layer_groups.__all__,
           *_training_log.__all__, *_loop_timing.__all__, *_distributed.__all__]
