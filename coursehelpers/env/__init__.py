"""The bottom layer: which mode, which device and precision, where things are, the banner.

- `modes.py`: quick or full mode, `per_mode(quick=..., full=...)`;
- `device.py`: `default_device()`, mixed precision (`autocast`, `grad_scaler`), seeds;
- `distributed.py`: under `torchrun`: the process group, ranks, `barrier`, `rank0_first`;
- `paths.py`: the course's top folder, the data root, the local mirror, `nbs/`;
- `banner.py`: the block every lesson prints first; `version.py`: the package version.
"""
from . import banner as _banner
from . import device as _device
from . import distributed as _distributed
from . import modes as _modes
from . import paths as _paths
from .banner import *
from .device import *
from .distributed import *
from .modes import *
from .paths import *
from .version import __version__

__all__ = [*_banner.__all__, *_device.__all__, *_distributed.__all__, *_modes.__all__,
           *_paths.__all__, '__version__']
