"""Helpers for the Practical Deep Learning for Coders lessons, on today's PyTorch.

Start with `banner()`, `per_mode()` and `get_data()`; `??name` shows the code.
"""
__version__ = '0.1.0'

from .data import DATASETS, data_root
from .device import autocast, default_device, seed_everything
from .download import DataError
from .fetch import get_data, list_data
from .info import banner
from .learner import DataLoaders, Learner
from .lessons import record
from .metrics import accuracy, accuracy_multi, error_rate, fbeta_multi
from .modes import get_mode, per_mode

__all__ = ['DATASETS', 'DataError', 'DataLoaders', 'Learner', 'accuracy', 'accuracy_multi',
           'autocast', 'banner', 'data_root', 'default_device', 'error_rate', 'fbeta_multi',
           'get_data', 'get_mode', 'list_data', 'per_mode', 'record', 'seed_everything']
