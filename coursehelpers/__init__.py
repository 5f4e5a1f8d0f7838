"""Helpers for the Practical Deep Learning for Coders lessons, on today's PyTorch.

Start with `banner()`, `per_mode()` and `get_data()`; `??name` shows the code.

The package map. Layers, bottom to top; a module imports only from its own layer or a
lower one, never from the package face (this file), and no module imports a name that
another module keeps private (one starting with `_`). `tests/test_architecture.py` reads
this list and checks every import against it.

1. env: mode, device and precision, the process group under torchrun, paths, the banner
   (`env/`)
2. datasets: the data registry: sources, lookup, mirror, download (`datasets/`)
3. training: the Learner, loaders, callbacks, schedules, metrics, checkpoints, DDP
   (`training/`, `training/distributed.py`: several processes under torchrun)
4. vision text tabular collab: the applications, which do not import one another
   (`vision/`: images and CNNs; `text/`: IMDB and the character RNN; `tabular/`: Rossmann;
   `collab.py`: MovieLens)
5. tools record: lesson tools: interpretation, data cleaning, export, the app, model
   summaries, submissions (`tools/`), and `record` for a lesson's numbers (`record.py`)
6. runner __main__: the headless lesson runner (`runner/`) and the command line

A lesson imports this face and one or two application or tool faces, for example
`from coursehelpers.vision import *` (every subpackage face defines `__all__`).
"""
from .datasets.download import DataError
from .datasets.registry import DATASETS, get_data, list_data
from .env.banner import banner
from .env.device import autocast, default_device, seed_everything
from .env.modes import get_mode, per_mode
from .env.paths import data_root
from .env.version import __version__
from .record import record
from .training.learner import Learner
from .training.loaders import DataLoaders
from .training.metrics import accuracy, accuracy_multi, error_rate, fbeta_multi

__all__ = ['DATASETS', 'DataError', 'DataLoaders', 'Learner', 'accuracy', 'accuracy_multi',
           'autocast', 'banner', 'data_root', 'default_device', 'error_rate', 'fbeta_multi',
           'get_data', 'get_mode', 'list_data', 'per_mode', 'record', 'seed_everything']
