"""Tables (lesson 03, Rossmann), in one import: `from coursehelpers.tabular import *`.

- `features.py`: dates, checked joins, events in time, a parquet cache of the joined table;
- `data.py`: `TabularProc` (codes and scaling), `time_split`, `tabular_dls`;
- `model.py`: `TabularModel` (embeddings then layers), `exp_rmspe`.

>>> from coursehelpers.tabular import *                                    # doctest: +SKIP
>>> proc = TabularProc(cat_names, cont_names).fit(train_df)               # doctest: +SKIP
>>> dls = tabular_dls(proc, train_df, valid_df, 'Sales', test_df)         # doctest: +SKIP
>>> model = TabularModel(proc.emb_sizes(), len(proc.conts), y_range=(0, 12))  # doctest: +SKIP
"""
from . import data as _data
from . import features as _features
from . import model as _model
from .data import *
from .features import *
from .model import *

__all__ = [*_features.__all__, *_data.__all__, *_model.__all__]
