"""Tables for deep learning (lesson 03, Rossmann): from DataFrames to the Learner's loaders.

`TabularProc` turns columns into category codes and scaled numbers; `time_split` holds out
the last days; `tabular_dls` builds the loaders. The feature helpers are in `features.py`,
the model in `model.py`; `from coursehelpers.tabular import *` brings all three:

>>> from coursehelpers.tabular import *                                    # doctest: +SKIP
>>> proc = TabularProc(cat_names, cont_names).fit(train_df)               # doctest: +SKIP
>>> dls = tabular_dls(proc, train_df, valid_df, 'Sales', test_df)         # doctest: +SKIP
>>> model = TabularModel(proc.emb_sizes(), len(proc.conts), y_range=(0, 12))  # doctest: +SKIP
"""
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..training.loaders import DataLoaders

__all__ = ['TabularProc', 'emb_size', 'time_split', 'tabular_dls']


class TabularProc:
    """Turns a DataFrame into category codes and scaled numbers, with statistics from train.

    `fit(train)` remembers, per categorical column, its categories (code 0 means unknown or
    missing; the others are 1..n), and per continuous column its median, mean and standard
    deviation. Continuous columns with missing values in train get a 0/1 categorical `_na`
    column and are filled with the train median. `transform(df)` applies exactly those
    statistics to any frame (validation, test).

    >>> proc = TabularProc(['Store', 'DayOfWeek'], ['CompetitionDistance']).fit(train)  # doctest: +SKIP
    >>> cats, conts = proc.transform(test)                                                # doctest: +SKIP

    Used in lesson 03.
    """

    def __init__(self, cat_names, cont_names):
        self.cat_names, self.cont_names = list(cat_names), list(cont_names)
        self.categories, self.medians, self.means, self.stds, self.na_names = {}, {}, {}, {}, []

    def fit(self, df):
        """Learn categories, medians, `_na` columns, means and stds from `df`; return self."""
        self._check_columns(df)
        for c in self.cat_names:
            self.categories[c] = pd.Index(pd.unique(df[c].dropna())).sort_values()
        for c in self.cont_names:
            x = df[c].astype('float64')
            self.medians[c] = float(x.median()) if x.notna().any() else 0.0
            if x.isna().any():
                self.na_names.append(c + '_na')
            x = x.fillna(self.medians[c])
            self.means[c], self.stds[c] = float(x.mean()), float(x.std(ddof=0)) or 1.0
        return self

    @property
    def cats(self):
        """The categorical columns the model sees: the given ones, then the `_na` flags."""
        return self.cat_names + self.na_names

    @property
    def conts(self):
        """The continuous columns the model sees."""
        return self.cont_names

    def transform(self, df):
        """Return (cats, conts): int64 codes (n, len(cats)) and float32 numbers (n, len(conts)).

        A category not seen in train gets code 0 ("unknown"); a missing number gets the train
        median (and its `_na` flag 1 when train had missing values in that column).
        """
        if not self.means and self.cont_names or not self.categories and self.cat_names:
            raise RuntimeError('This TabularProc is not fitted yet: call proc.fit(train_df) first.')
        self._check_columns(df)
        codes = [self.categories[c].get_indexer(df[c]) + 1 for c in self.cat_names]
        codes += [df[n[:-3]].isna().to_numpy().astype('int64') + 1 for n in self.na_names]
        nums = [(df[c].astype('float64').fillna(self.medians[c]) - self.means[c]) / self.stds[c]
                for c in self.cont_names]
        cats = np.stack(codes, 1) if codes else np.zeros((len(df), 0), 'int64')
        conts = np.stack(nums, 1) if nums else np.zeros((len(df), 0))
        return cats.astype('int64'), conts.astype('float32')

    def cardinalities(self):
        """Number of codes per model categorical column: categories + 1 (code 0 = unknown)."""
        return [len(self.categories[c]) + 1 for c in self.cat_names] + [3] * len(self.na_names)

    def emb_sizes(self):
        """(cardinality, width) per model categorical column, widths from `emb_size`."""
        return [(c, emb_size(c)) for c in self.cardinalities()]

    def _check_columns(self, df):
        missing = [c for c in self.cat_names + self.cont_names if c not in df.columns]
        if missing:
            raise KeyError(f'The frame lacks column(s) {missing} that this TabularProc was set '
                           f'up with; it has {list(df.columns)[:20]}... Build it the same way '
                           'as the training frame (same joins and features).')

    def __repr__(self):
        return (f'TabularProc({len(self.cat_names)} categorical + {len(self.na_names)} _na, '
                f'{len(self.cont_names)} continuous)')


def emb_size(cardinality):
    """The 2018 rule for an embedding's width: `min(50, (cardinality + 1) // 2)`.

    >>> emb_size(1116)       # stores, + 1 for unknown
    50
    >>> emb_size(8)          # days of the week, + 1
    4

    Used by `TabularProc.emb_sizes` (lesson 03).
    """
    return min(50, (cardinality + 1) // 2)


def time_split(dates, n_days, end=None):
    """Boolean mask of the validation rows: the `n_days` days up to `end` (default: the last).

    >>> is_valid = time_split(df['Date'], 48)     # the length of the test period  # doctest: +SKIP

    Used in lesson 03.
    """
    dates = pd.to_datetime(pd.Series(dates))
    end = pd.Timestamp(end) if end is not None else dates.max()
    start = end - pd.Timedelta(days=n_days - 1)
    mask = ((dates >= start) & (dates <= end)).to_numpy()
    if not mask.any() or mask.all():
        raise ValueError(f'The validation days {start.date()}..{end.date()} take {mask.sum()} '
                         f'of {len(mask)} rows; the dates run {dates.min().date()}..'
                         f'{dates.max().date()}. Pick n_days/end that leave rows on both sides.')
    return mask


def _check_target(df, y_name, name):
    """Raise ValueError naming the column, the row count and what to do when the `name` table
    is empty or its target is missing, non-numeric, NaN or infinite (nothing is dropped)."""
    if len(df) == 0:
        raise ValueError(f'The {name} table has no rows: check how it was read and split.')
    if y_name not in df.columns:
        raise KeyError(f'The {name} table has no target column {y_name!r}; it has {list(df.columns)[:20]}.')
    y = pd.to_numeric(df[y_name], errors='coerce')
    bad = y.isna() | ~np.isfinite(y.fillna(0))
    if bad.any():
        rows = bad[bad].index.tolist()
        n = f'{len(rows):,} row{"s" if len(rows) != 1 else ""}'
        raise ValueError(f'The {name} table has {n} (for example {rows[:5]}) whose '
                         f'target {y_name!r} is missing, not a number or infinite. Drop or fix '
                         f'them (df.dropna(subset=[{y_name!r}])), then build the loaders again.')


def tabular_dls(proc, train_df, valid_df, y_name, test_df=None, bs=128):
    """DataLoaders whose batches are `(x_cat, x_cont, y)`, from frames and a fitted `proc`.

    `y` is float32 of shape (n, 1); the test set (if any) gets zeros as targets. The training
    loader shuffles and drops a last batch of one row (batch norm needs two).

    >>> dls = tabular_dls(proc, train_df, valid_df, 'Sales', test_df, bs=512)   # doctest: +SKIP

    Used in lesson 03.
    """
    for name, df in (('training', train_df), ('validation', valid_df)):
        _check_target(df, y_name, name)

    def dataset(df, with_y=True):
        cats, conts = proc.transform(df)
        y = df[y_name].to_numpy('float32') if with_y else np.zeros(len(df), 'float32')
        return TensorDataset(torch.from_numpy(cats), torch.from_numpy(conts),
                             torch.from_numpy(y)[:, None])
    train = DataLoader(dataset(train_df), bs, shuffle=True, drop_last=len(train_df) % bs == 1)
    valid = DataLoader(dataset(valid_df), bs * 2)
    test = None if test_df is None else DataLoader(dataset(test_df, with_y=False), bs * 2)
    return DataLoaders(train, valid, test)
