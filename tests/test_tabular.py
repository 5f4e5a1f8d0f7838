"""Lesson 03 tabular helpers on small hand-made frames with known answers, plus real tables."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from coursehelpers import Learner
from coursehelpers.tabular import (TabularModel, TabularProc, add_datepart, add_elapsed,
                                   add_rolling, cached_parquet, emb_size, exp_rmspe, join_df,
                                   months_since, rmspe, tabular_dls, time_split, weeks_since)


def days(*ds):
    return pd.to_datetime([f'2015-01-{d:02d}' for d in ds])


# dates and joins

def test_add_datepart_known_parts():
    df = add_datepart(pd.DataFrame({'Date': ['2015-03-31', '2015-01-01']}), 'Date', drop=False)
    assert df.Year.tolist() == [2015, 2015] and df.Month.tolist() == [3, 1]
    assert df.Day.tolist() == [31, 1] and df.Dayofweek.tolist() == [1, 3]   # Tuesday, Thursday
    assert df.Week.tolist() == [14, 1] and df.Dayofyear.tolist() == [90, 1]
    assert df.Is_month_end.tolist() == [True, False] and df.Is_quarter_end.tolist() == [True, False]
    assert df.Is_year_start.tolist() == [False, True]
    assert df.Elapsed[1] == 1420070400                       # seconds since 1970
    assert pd.api.types.is_datetime64_any_dtype(df.Date)
    assert 'Date' not in add_datepart(pd.DataFrame({'Date': ['2015-03-31']}), 'Date').columns


def test_add_datepart_prefix_from_column_name():
    df = add_datepart(pd.DataFrame({'SaleDate': ['2015-03-31']}), 'SaleDate')
    assert {'SaleYear', 'SaleMonth', 'SaleElapsed'} <= set(df.columns)


def test_bad_date_names_column_and_value():
    df = pd.DataFrame({'Date': ['2015-01-01', 'not a date', None]})
    with pytest.raises(ValueError, match=r"'Date'.*1 value.*'not a date'"):
        add_datepart(df, 'Date')


def test_join_df_checks_unmatched_rows():
    left = pd.DataFrame({'Store': [1, 2, 3, 4]})
    right = pd.DataFrame({'Store': [1, 2], 'Type': ['a', 'b']})
    with pytest.raises(ValueError, match=r'2 of 4 rows found no match.*Store'):
        join_df(left, right, 'Store')
    with pytest.warns(UserWarning, match='2 of 4 rows'):
        out = join_df(left, right, 'Store', on_missing='warn')
    assert out.Type.tolist()[:2] == ['a', 'b'] and out.Type.isna().sum() == 2
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert len(join_df(left, right, 'Store', on_missing='ignore')) == 4


def test_join_df_matched_keeps_order_and_suffixes():
    left = pd.DataFrame({'Year': [2015, 2014], 'Week': [2, 1], 'trend': [10, 20]})
    right = pd.DataFrame({'Year': [2014, 2015], 'Week': [1, 2], 'trend': [70, 80]})
    out = join_df(left, right, ['Year', 'Week'], suffix='_DE')
    assert out.trend.tolist() == [10, 20] and out.trend_DE.tolist() == [80, 70]


def test_join_df_refuses_repeated_keys():
    with pytest.raises(ValueError, match='repeated keys'):
        join_df(pd.DataFrame({'k': [1]}), pd.DataFrame({'k': [1, 1], 'v': [1, 2]}), 'k')


# competition months, promo weeks, events in time

def test_months_since_clips_and_fills():
    now = pd.Series(pd.to_datetime(['2015-07-31'] * 4))
    year, month = pd.Series([2015, 2010, 2016, np.nan]), pd.Series([1, 1, 1, np.nan])
    assert months_since(year, month, now).tolist() == [6, 24, 0, 0]


def test_weeks_since_clips_and_fills():
    now = pd.Series(pd.to_datetime(['2015-01-26', '2015-12-31', '2015-01-26', '2014-01-01']))
    year, week = pd.Series([2015, 2015, np.nan, 2015]), pd.Series([1, 1, np.nan, 1])
    assert weeks_since(year, week, now).tolist() == [4, 25, 0, 0]   # ISO week 1 of 2015: Dec 29


def test_add_elapsed_around_a_holiday():
    df = pd.DataFrame({'Store': [1] * 7 + [2] * 3, 'Date': days(*range(1, 8), 1, 2, 3),
                       'Hol': [0, 0, 1, 0, 0, 1, 0, 1, 0, 0]})
    df = add_elapsed(df.sample(frac=1, random_state=0), 'Hol').sort_index()   # order must not matter
    after, before = df.AfterHol.tolist(), df.BeforeHol.tolist()
    assert after[:7] == pytest.approx([math.nan, math.nan, 0, 1, 2, 0, 1], nan_ok=True)
    assert before[:7] == pytest.approx([2, 1, 0, 2, 1, 0, math.nan], nan_ok=True)
    assert after[7:] == [0, 1, 2]                            # store 2 has its own holidays
    assert before[7:] == pytest.approx([0, math.nan, math.nan], nan_ok=True)


def test_add_rolling_counts_calendar_days_both_ways():
    dates = days(1, 2, 3, 4, 10, 11)                          # a gap from the 4th to the 10th
    df = pd.DataFrame({'Store': [1] * 6, 'Date': dates, 'Promo': [1, 1, 0, 1, 1, 0]})
    df = add_rolling(df, 'Promo', days=7)
    assert df.Promo_bw.tolist() == [1, 2, 2, 3, 2, 1]          # the 10th sees the 4th..10th
    assert df.Promo_fw.tolist() == [3, 2, 1, 2, 1, 0]          # the 4th sees the 4th..10th


# preprocessing

@pytest.fixture
def frames():
    train = pd.DataFrame({'Store': [3, 1, 2, 1], 'Type': ['a', 'b', 'a', None],
                          'Dist': [10.0, np.nan, 30.0, 50.0], 'Temp': [1.0, 2.0, 3.0, 4.0]})
    test = pd.DataFrame({'Store': [1, 4], 'Type': ['c', 'b'], 'Dist': [np.nan, 10.0],
                         'Temp': [np.nan, 2.5]})
    return train, test


def test_proc_learns_on_train_and_reuses_on_test(frames):
    train, test = frames
    proc = TabularProc(['Store', 'Type'], ['Dist', 'Temp']).fit(train)
    assert proc.cats == ['Store', 'Type', 'Dist_na'] and proc.cardinalities() == [4, 3, 3]
    cats, conts = proc.transform(train)
    assert cats[:, 0].tolist() == [3, 1, 2, 1]                 # sorted categories, codes from 1
    assert cats[:, 1].tolist() == [1, 2, 1, 0]                 # missing -> 0
    assert cats[:, 2].tolist() == [1, 2, 1, 1]                 # Dist_na: 2 where Dist was missing
    assert proc.medians['Dist'] == 30.0
    assert conts.mean(0) == pytest.approx([0, 0], abs=1e-6)
    assert conts.std(0) == pytest.approx([1, 1], abs=1e-5)
    tcats, tconts = proc.transform(test)
    assert tcats[:, 0].tolist() == [1, 0]                      # store 4 unseen -> unknown
    assert tcats[:, 1].tolist() == [0, 2]                      # type 'c' unseen -> unknown
    assert tcats[:, 2].tolist() == [2, 1]
    dist = (np.array([30.0, 10.0]) - proc.means['Dist']) / proc.stds['Dist']
    assert tconts[:, 0] == pytest.approx(dist, rel=1e-6)      # train median and train scaling
    temp = (np.array([2.5, 2.5]) - 2.5) / proc.stds['Temp']   # Temp had no gaps: no flag
    assert tconts[:, 1] == pytest.approx(temp, abs=1e-6)


def test_proc_refuses_unknown_columns_and_unfitted_use(frames):
    train, test = frames
    proc = TabularProc(['Store', 'Type'], ['Dist', 'Temp'])
    with pytest.raises(RuntimeError, match='not fitted'):
        proc.transform(test)
    proc.fit(train)
    with pytest.raises(KeyError, match=r"\['Temp'\].*same way"):
        proc.transform(test.drop(columns='Temp'))


def test_emb_size_rule():
    assert [emb_size(c) for c in (3, 8, 13, 99, 1116)] == [2, 4, 7, 50, 50]


def test_time_split_takes_the_last_days():
    dates = pd.Series(days(1, 2, 3, 3, 4, 4))
    assert time_split(dates, 2).tolist() == [False, False, True, True, True, True]
    assert time_split(dates, 1, end='2015-01-02').tolist() == [False, True] + [False] * 4
    with pytest.raises(ValueError, match='both sides'):
        time_split(dates, 10)


# model, loaders, metric

def test_exp_rmspe_matches_numpy():
    rng = np.random.default_rng(0)
    y = rng.uniform(1000, 9000, 50)
    p = y * rng.uniform(0.8, 1.2, 50)
    direct = np.sqrt(np.mean(((y - p) / y) ** 2))
    assert exp_rmspe(torch.log(torch.tensor(p)), torch.log(torch.tensor(y))) == pytest.approx(direct, rel=1e-5)
    assert rmspe(p, y) == pytest.approx(direct)


def test_model_output_stays_in_range():
    torch.manual_seed(0)
    model = TabularModel([(5, 3), (4, 2)], 2, layers=(16, 8), y_range=(0, 12.0)).eval()
    x_cat = torch.tensor([[0, 0], [4, 3], [1, 2]])
    x_cont = torch.tensor([[1e6, -1e6], [0.0, 0.0], [-1e6, 1e6]])
    out = model(x_cat, x_cont)
    assert out.shape == (3, 1) and (out >= 0).all() and (out <= 12.0).all()
    with torch.no_grad():
        model.layers[-1].bias.fill_(1e4)
    assert model(x_cat, x_cont).max() <= 12.0


def test_loaders_and_learner_train_on_a_table(frames):
    train, _ = frames
    big = pd.concat([train] * 16, ignore_index=True).assign(y=lambda d: np.log(d.Temp * 100))
    proc = TabularProc(['Store', 'Type'], ['Dist', 'Temp']).fit(big)
    dls = tabular_dls(proc, big, big.iloc[:8], 'y', test_df=big.iloc[:5].drop(columns='y'), bs=16)
    x_cat, x_cont, y = next(iter(dls.train))
    assert x_cat.dtype == torch.int64 and x_cat.shape == (16, 3)
    assert x_cont.shape == (16, 2) and y.shape == (16, 1)
    model = TabularModel(proc.emb_sizes(), 2, layers=(32, 16), y_range=(0, 1.2 * big.y.max()))
    learn = Learner(model, dls, nn.MSELoss(), metrics=[exp_rmspe], progress=False)
    learn.fit_one_cycle(3, 1e-2)
    preds, _ = learn.get_preds('test')
    assert preds.shape == (5, 1) and len(learn.history) == 3
    assert learn.history.train_loss.iloc[-1] < learn.history.train_loss.iloc[0]


def test_cached_parquet_rebuilds_when_an_input_changes(tmp_path):
    src = tmp_path / 'in.csv'
    src.write_text('a\n1\n')
    calls = []

    def build():
        calls.append(1)
        return pd.read_csv(src).assign(b=len(calls))
    first = cached_parquet('t', [src], build, folder=tmp_path / 'cache')
    again = cached_parquet('t', [src], build, folder=tmp_path / 'cache')
    assert len(calls) == 1 and again.equals(first)
    src.write_text('a\n2\n')
    changed = cached_parquet('t', [src], build, folder=tmp_path / 'cache')
    assert len(calls) == 2 and changed.a.tolist() == [2]
    assert len(list((tmp_path / 'cache').glob('t-*.parquet'))) == 2


# real tables

def test_real_rossmann_joins_match(shared_data):
    path = shared_data / 'rossmann'
    store = pd.read_csv(path / 'store.csv')
    store = join_df(store, pd.read_csv(path / 'store_states.csv'), 'Store')
    train = pd.read_csv(path / 'train.csv', nrows=2000)
    joined = join_df(train, store, 'Store')
    assert len(joined) == 2000 and joined.State.notna().all()
    weather = join_df(pd.read_csv(path / 'weather.csv'), pd.read_csv(path / 'state_names.csv'),
                      'file', 'StateName')
    assert weather.State.notna().all()
    with pytest.raises(ValueError, match='rows found no match'):
        join_df(train.assign(Store=train.Store + 5000), store, 'Store')


def test_tabular_loaders_refuse_an_empty_table_and_nan_targets():
    from coursehelpers.tabular.data import TabularProc, tabular_dls
    df = pd.DataFrame({'a': ['x', 'y'] * 5, 'b': range(10), 'Sales': [1.0] * 9 + [float('nan')]})
    proc = TabularProc(['a'], ['b']).fit(df)
    with pytest.raises(ValueError, match=r"1 row \(for example \[9\]\) whose target 'Sales'"):
        tabular_dls(proc, df, df.iloc[:3], 'Sales')
    with pytest.raises(ValueError, match='validation table has no rows'):
        tabular_dls(proc, df.iloc[:9], df.iloc[:0], 'Sales')
