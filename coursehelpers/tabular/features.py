"""Feature engineering for tables (lesson 03, Rossmann): dates, checked joins, events in time.

Plain pandas. Every helper returns a new DataFrame (or adds columns to the one it is given,
as its docstring says) so a student can run them one cell at a time and look at the result.

>>> df = add_datepart(train, 'Date', drop=False)            # doctest: +SKIP
>>> df = join_df(df, store, 'Store')                         # doctest: +SKIP
"""
import hashlib
import warnings
from pathlib import Path

import pandas as pd

from ..env.paths import data_root

__all__ = ['parse_dates', 'add_datepart', 'join_df', 'months_since', 'weeks_since',
           'add_elapsed', 'add_rolling', 'cached_parquet']

DATE_PARTS = ('Year', 'Month', 'Week', 'Day', 'Dayofweek', 'Dayofyear', 'Is_month_end',
              'Is_month_start', 'Is_quarter_end', 'Is_quarter_start', 'Is_year_end',
              'Is_year_start')


def parse_dates(df, col):
    """Column `col` of `df` as datetimes; raise ValueError naming the column and a bad value.

    Missing values stay missing (NaT); a value that is present but does not parse is an error.

    >>> parse_dates(pd.DataFrame({'Date': ['2015-07-31']}), 'Date')[0]
    Timestamp('2015-07-31 00:00:00')

    Used in lesson 03.
    """
    if col not in df.columns:
        raise KeyError(f'No column {col!r} to parse as dates; the columns are {list(df.columns)}.')
    raw = df[col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw
    parsed = pd.to_datetime(raw, errors='coerce', format='mixed')
    bad = parsed.isna() & raw.notna()
    if bad.any():
        raise ValueError(f'Column {col!r} should hold dates, but {int(bad.sum())} value(s) do '
                         f'not parse, for example {raw[bad].iloc[0]!r}. Fix or drop those rows '
                         'first (pd.to_datetime shows the accepted formats).')
    return parsed


def add_datepart(df, col, drop=True, prefix=None):
    """Add the parts of date column `col` to `df` (in place) and return `df`.

    New columns `<prefix>Year, Month, Week, Day, Dayofweek, Dayofyear, Is_month_end, ...,
    Is_year_start` and `<prefix>Elapsed` (seconds since 1970). `prefix` defaults to `col`
    without a trailing 'Date'. `col` itself becomes datetimes, or is dropped with `drop`.

    >>> add_datepart(pd.DataFrame({'Date': ['2015-07-31']}), 'Date').Month[0]
    7

    Used in lesson 03.
    """
    dates = parse_dates(df, col)
    prefix = col[:-4] if prefix is None and col.endswith('Date') else (prefix or col)
    for part in DATE_PARTS:
        if part == 'Week':
            values = dates.dt.isocalendar().week.astype('int64')
        elif part == 'Dayofweek':
            values = dates.dt.day_of_week
        elif part == 'Dayofyear':
            values = dates.dt.day_of_year
        else:
            values = getattr(dates.dt, part.lower())
        df[prefix + part] = values
    df[prefix + 'Elapsed'] = (dates - pd.Timestamp('1970-01-01')) // pd.Timedelta(seconds=1)
    if drop:
        return df.drop(columns=col)
    df[col] = dates
    return df


def join_df(left, right, left_on, right_on=None, suffix='_y', on_missing='raise'):
    """Left-join `right` onto `left` and check that every row of `left` found a match.

    Args:
        left_on, right_on: key column(s); `right_on` defaults to `left_on`.
        suffix: added to `right`'s columns whose names clash with `left`'s.
        on_missing: 'raise' (ValueError), 'warn' (a warning with the count) or 'ignore'.
    Returns: the joined DataFrame, with the rows of `left` in their order.

    >>> joined = join_df(train, store, 'Store')         # doctest: +SKIP

    Used in lesson 03.
    """
    right_on = right_on or left_on
    out = left.merge(right, how='left', left_on=left_on, right_on=right_on,
                     suffixes=('', suffix), indicator='_merge_')
    missing = (out.pop('_merge_') == 'left_only').to_numpy()
    if len(out) != len(left):
        raise ValueError(f'The join on {right_on} made {len(out)} rows from {len(left)}: the '
                         'right table has repeated keys. Drop duplicates there first.')
    if missing.any() and on_missing != 'ignore':
        keys = [left_on] if isinstance(left_on, str) else list(left_on)
        example = out.loc[missing, keys].head(1).to_dict('records')
        msg = (f'{int(missing.sum())} of {len(left)} rows found no match in the right table on '
               f'{left_on} -> {right_on} (for example {example}); their new columns are '
               'empty. Check the keys (spelling, types).')
        if on_missing == 'raise':
            raise ValueError(msg)
        warnings.warn(msg)
    return out


def months_since(year, month, now, clip=24):
    """Whole months from (`year`, `month`) to dates `now`, clipped to [0, `clip`].

    Missing start dates give 0 (nothing open yet). Arrays or Series in, float Series out.

    >>> months_since(pd.Series([2015]), pd.Series([1]), pd.Series(pd.to_datetime(['2015-07-31'])))[0]
    6.0

    Used in lesson 03 (months since the competitor opened).
    """
    months = (now.dt.year - year) * 12 + (now.dt.month - month)
    return months.fillna(0).clip(0, clip).astype('float64')


def weeks_since(year, week, now, clip=25):
    """Whole weeks from ISO (`year`, `week`) to dates `now`, clipped to [0, `clip`].

    Missing start dates give 0. Used in lesson 03 (weeks since Promo2 started).

    >>> weeks_since(pd.Series([2015]), pd.Series([1]), pd.Series(pd.to_datetime(['2015-01-12'])))[0]
    1.0
    """
    ok = year.notna() & week.notna()
    text = year.where(ok, 1970).astype(int).astype(str) + week.where(ok, 1).astype(int).map('{:02d}'.format)
    start = pd.to_datetime(text + '1', format='%G%V%u')
    weeks = ((now - start).dt.days // 7).where(ok, 0)
    return weeks.clip(0, clip).astype('float64')


def add_elapsed(df, fld, key='Store', date='Date'):
    """Add `After<fld>` and `Before<fld>`: days since the last and until the next day when
    boolean column `fld` is true, for the same `key` (in place; returns `df`).

    The day itself counts as 0. Before the first event (or after the last) the value is
    missing (NaN); the preprocessing fills it with the median and adds an `_na` flag.

    >>> add_elapsed(df, 'StateHoliday')[['Date', 'AfterStateHoliday']]   # doctest: +SKIP

    Used in lesson 03.
    """
    d = df[[key, date]].copy()
    d['_event'] = d[date].where(df[fld].astype(bool))
    d = d.sort_values([key, date])
    groups = d.groupby(key)['_event']
    last, nxt = groups.ffill(), groups.bfill()
    df['After' + fld] = ((d[date] - last).dt.days).reindex(df.index).astype('float64')
    df['Before' + fld] = ((nxt - d[date]).dt.days).reindex(df.index).astype('float64')
    return df


def add_rolling(df, flds, key='Store', date='Date', days=7):
    """Add `<fld>_bw` and `<fld>_fw`: how many of the last / next `days` days (today included)
    had boolean column `fld` true, for the same `key` (in place; returns `df`).

    Calendar days, not rows: a gap in the dates counts as days without the event.

    >>> add_rolling(df, ['Promo', 'StateHoliday'])[['Promo_bw', 'Promo_fw']]   # doctest: +SKIP

    Used in lesson 03.
    """
    flds = [flds] if isinstance(flds, str) else list(flds)
    d = df[[key, date]].copy()
    d[flds] = df[flds].astype('float64')
    for suffix, when in (('_bw', d[date]), ('_fw', pd.Timestamp('2100-01-01') - (d[date] - pd.Timestamp('1970-01-01')))):
        t = d.assign(**{date: when}).sort_values([key, date])
        sums = t.groupby(key).rolling(f'{days}D', on=date, min_periods=1)[flds].sum()
        sums.index = t.index                 # groupby-rolling keeps the sorted order
        for f in flds:
            df[f + suffix] = sums[f].reindex(df.index)
    return df


def cached_parquet(name, inputs, build, folder=None):
    """Return the DataFrame `build()` makes, cached as `<folder>/<name>-<key>.parquet`.

    `key` is a hash of the input files' bytes, so a changed input rebuilds the cache.
    `folder` defaults to `data_root() / 'cache'` (never the read-only mirror).

    >>> joined = cached_parquet('rossmann-joined', csv_files, make_joined)   # doctest: +SKIP

    Used in lesson 03.
    """
    h = hashlib.sha256()
    for f in sorted(Path(p) for p in inputs):
        h.update(f.name.encode())
        with open(f, 'rb') as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b''):
                h.update(chunk)
    folder = Path(folder) if folder else data_root() / 'cache'
    path = folder / f'{name}-{h.hexdigest()[:16]}.parquet'
    if path.exists():
        print(f'read the cached table {path.name}')
        return pd.read_parquet(path)
    df = build()
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path.with_suffix('.tmp'), index=False)
    path.with_suffix('.tmp').replace(path)
    print(f'built and cached {path.name} ({len(df):,} rows)')
    return df
