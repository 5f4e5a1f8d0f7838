"""Stand-ins for the full Rossmann and IMDB data sets, made from the real samples.

Full mode trains on the complete data sets, which cannot always be downloaded. A stand-in has
the full set's layout, file formats, counts and size distribution, so reading, tokenising and
memory behave like the real thing; its values are made up (trained metrics mean nothing).

- `make_rossmann`: the fast.ai Rossmann archive's seven tables. `train.csv` is generated
  (`synthetic_train`: 1,017,209 rows at scale 1, shaped like Kaggle's); every other table is
  copied from the sample unchanged.
- `make_imdb`: Stanford's aclImdb v1 layout (`train/pos`, `train/neg`, `train/unsup`,
  `test/pos`, `test/neg`, one review per `{id}_{rating}.txt`) plus `README` and `imdb.vocab`;
  each review is made of sentences of real sample reviews of its label.

Every random choice derives from `seed`: the same arguments give byte-identical files.
"""
import os
import re
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

__all__ = ['ROSSMANN_ROWS', 'ROSSMANN_STORES', 'IMDB_COUNTS', 'synthetic_train',
           'make_rossmann', 'make_imdb']

# ----------------------------------------------------------------------------- Rossmann
ROSSMANN_ROWS = 1_017_209          # rows of Kaggle's train.csv
ROSSMANN_STORES = 1115
MIN_STORES = 30
GAP_STORES = 180                   # stores without rows from 2014-07-01 to 2014-12-31
FIRST_DAY, LAST_DAY = '2013-01-01', '2015-07-31'
GAP = (np.datetime64('2014-07-01'), np.datetime64('2014-12-31'))

# Calendars close to Germany's in 2013-2015: nationwide public holidays ('a'), Easter ('b'),
# Christmas ('c').
PUBLIC = ['01-01', '05-01', '10-03']
EASTER = ['2013-03-29', '2013-04-01', '2014-04-18', '2014-04-21', '2015-04-03', '2015-04-06']
CHRISTMAS = ['12-25', '12-26']


def _choose_stores(scale, seed):
    """Store 1 and a seeded random choice of the others: round(1115 * scale), at least 30."""
    if not 0 < scale <= 1:
        raise ValueError(f'Rossmann has {ROSSMANN_STORES} stores: scale must be in (0, 1], '
                         f'not {scale}.')
    k = min(ROSSMANN_STORES, max(MIN_STORES, round(ROSSMANN_STORES * scale)))
    stores = np.arange(1, ROSSMANN_STORES + 1)
    if k == ROSSMANN_STORES:
        return stores
    rng = np.random.default_rng([seed, ROSSMANN_STORES])     # not the rows' generator
    return np.sort(np.r_[1, rng.choice(stores[1:], k - 1, replace=False)])


def _store_days(stores, rng):
    """(store, date) of every row: each store on each day, less the real set's gaps."""
    dates = pd.date_range(FIRST_DAY, LAST_DAY)
    store = np.tile(stores, len(dates))
    date = np.repeat(dates.values, len(stores))
    n_gap = round(GAP_STORES * len(stores) / ROSSMANN_STORES)
    gap_stores = rng.choice(stores, n_gap, replace=False)
    in_gap = (date >= GAP[0]) & (date <= GAP[1])
    keep = ~(in_gap & np.isin(store, gap_stores))
    keep &= ~((store == 988) & (date == np.datetime64(FIRST_DAY)))
    return store[keep], pd.DatetimeIndex(date[keep])


def _calendar(store, date, opened, states, rng):
    """Day of week, state holiday, open, promo and school holiday of every row."""
    n = len(store)
    dow = date.day_of_week.to_numpy() + 1
    md = date.strftime('%m-%d')
    holiday = np.full(n, '0', dtype=object)
    holiday[np.isin(md, PUBLIC)] = 'a'
    holiday[date.isin(pd.to_datetime(EASTER))] = 'b'
    holiday[np.isin(md, CHRISTMAS)] = 'c'

    sunday_open = set(opened.loc[opened.DayOfWeek == 7, 'Store'])
    is_open = (dow != 7) | np.isin(store, list(sunday_open))
    is_open &= holiday == '0'
    is_open &= rng.random(n) > 0.005                     # refits, strikes, stock-taking
    promo = ((date - pd.Timestamp('2013-01-07')).days.to_numpy() // 7 % 2 == 0) & (dow <= 5)

    # School holidays: summer (six weeks, starting a week later for each state in turn),
    # Christmas and Easter fortnights.
    state_no = pd.Series(pd.factorize(states)[0], index=states.index).reindex(store).to_numpy()
    doy = date.day_of_year.to_numpy()
    summer_start = 176 + 7 * (state_no % 8)
    school = (doy >= summer_start) & (doy < summer_start + 42)
    school |= (doy >= 356) | (doy <= 6)
    school |= (md >= '03-25') & (md <= '04-08')
    return dow, holiday, is_open, promo, school


def _sales(store, dow, promo, opened, rng):
    """Sales and customers of every row, around each store's level in the sample."""
    stores, n = np.arange(1, ROSSMANN_STORES + 1), len(store)
    level = opened.groupby('Store').Sales.mean().reindex(stores).fillna(opened.Sales.median())
    per_customer = (opened.groupby('Store').Sales.sum() / opened.groupby('Store').Customers.sum())
    per_customer = per_customer.reindex(stores).fillna(opened.Sales.sum() / opened.Customers.sum())
    sales = (level.reindex(store).to_numpy() * np.where(promo, 1.2, 1.0)
             * np.where(dow == 1, 1.1, 1.0) * rng.lognormal(0, 0.15, n))
    customers = sales / per_customer.reindex(store).to_numpy() * rng.lognormal(0, 0.05, n)
    return sales, customers


def synthetic_train(sample_dir, seed=0, scale=1.0):
    """A DataFrame shaped like Kaggle's full Rossmann train.csv, levels taken from the sample.

    The same 9 columns and dtypes as the real table, the same 942 days (2013-01-01 to
    2015-07-31, every day kept at any scale), the same gap (180 stores without rows from
    2014-07-01 to 2014-12-31, and store 988 without 2013-01-01), Kaggle's row order (newest
    day first, stores ascending within a day): at scale 1, all 1,115 stores and exactly
    1,017,209 rows. At scale < 1: store 1 and a seeded random choice of the others,
    round(1115 * scale) stores in all (at least 30), with round(180 * share) gap stores among
    them. Sales and customers are drawn around each store's level in the sample; opening,
    promotions, state and school holidays follow calendars like the real ones.

    Args:
        sample_dir: the real sample's folder (`train.csv` and `store_states.csv` are read).
        seed: seeds every random choice.
        scale: the share of the 1,115 stores to keep, in (0, 1].

    Returns:
        The DataFrame, in the row order of Kaggle's file.

    Example:
        >>> len(synthetic_train(Path('../shared/data/rossmann')))
        1017209

    `make_rossmann` writes it; benchmarks/bench_rossmann_memory.py runs lesson 03 on it.

    Used by `make_standin`.
    """
    sample_dir = Path(sample_dir)
    rng = np.random.default_rng(seed)
    sample = pd.read_csv(sample_dir / 'train.csv', low_memory=False)
    states = pd.read_csv(sample_dir / 'store_states.csv').set_index('Store')['State']
    opened = sample[sample.Open == 1]
    store, date = _store_days(_choose_stores(scale, seed), rng)
    dow, holiday, is_open, promo, school = _calendar(store, date, opened, states, rng)
    sales, customers = _sales(store, dow, promo, opened, rng)
    df = pd.DataFrame({
        'Store': store, 'DayOfWeek': dow, 'Date': date.strftime('%Y-%m-%d'),
        'Sales': np.where(is_open, sales.round(), 0).astype(np.int64),
        'Customers': np.where(is_open, customers.round(), 0).astype(np.int64),
        'Open': is_open.astype(np.int64), 'Promo': promo.astype(np.int64),
        'StateHoliday': holiday, 'SchoolHoliday': school.astype(np.int64)})
    # Kaggle's file runs from the newest day to the oldest, stores ascending within a day.
    order = np.lexsort((store, -date.asi8))
    return df.take(order).reset_index(drop=True)


def make_rossmann(sample, dest, scale=1.0, seed=0):
    """Fill `dest` with a stand-in of the full fast.ai Rossmann archive.

    Every table of the sample but `train.csv` (store, store_states, state_names, googletrend,
    weather, test, sample_submission) is copied unchanged; `train.csv` is written by
    `synthetic_train` (see there for what `scale` keeps).

    Args:
        sample: the real sample's folder (flat CSVs).
        dest: an existing folder to fill.
        scale: the share of the 1,115 stores to keep, in (0, 1] (1 = the real 1,017,209 rows).
        seed: seeds every random choice; the same arguments give byte-identical files.

    Returns:
        {file name: data rows} of the files written, e.g. {'train.csv': 1017209, ...}.

    Example:
        >>> make_rossmann(Path('../shared/data/rossmann'), Path('standin'))['train.csv']
        1017209

    Used by `make_standin`.
    """
    sample, dest = Path(sample), Path(dest)
    if not dest.is_dir():
        raise FileNotFoundError(f'{dest} is not a folder: create it first.')
    counts = {}
    tables = sorted(f for f in sample.glob('*.csv') if f.name != 'train.csv')
    for f in tqdm(tables + ['train.csv'], desc='rossmann', unit='file'):
        if f == 'train.csv':
            train = synthetic_train(sample, seed, scale)
            train.to_csv(dest / 'train.csv', index=False)
            counts['train.csv'] = len(train)
        else:
            shutil.copyfile(f, dest / f.name)
            with open(f, 'rb') as fh:
                counts[f.name] = sum(1 for _ in fh) - 1
    return counts


# ----------------------------------------------------------------------------- IMDB
IMDB_COUNTS = {'train/pos': 12_500, 'train/neg': 12_500, 'train/unsup': 50_000,
               'test/pos': 12_500, 'test/neg': 12_500}
MIN_REVIEWS = 10
CHUNK = 500                        # reviews per task; fixed, so output ignores `workers`
# Reviews per rating in aclImdb's train folders (test's are close), used as weights.
RATINGS = {'pos': {7: 2496, 8: 3009, 9: 2263, 10: 4732},
           'neg': {1: 5100, 2: 2284, 3: 2420, 4: 2696}, 'unsup': {0: 1}}
LABELS = {'pos': ['positive'], 'neg': ['negative'], 'unsup': ['positive', 'negative']}
# A sentence ends at ., ! or ? followed by space; a run of <br /> also ends one.
SENTENCE_END = re.compile(r'\s*((?:<br\s*/?>\s*)+)|(?<=[.!?])\s+', re.IGNORECASE)
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
README = """\
Stand-in for the Large Movie Review Dataset v1.0 (aclImdb, Maas et al. 2011)

This is NOT the real data set. It was generated by coursehelpers from the fast.ai IMDB
sample (1,000 real reviews) so that full mode can run without the download: the same
layout (train/pos, train/neg, train/unsup, test/pos, test/neg; one review per file named
id_rating.txt), the same kind of text and length distribution, {total:,} reviews
(scale {scale}, seed {seed}). Each review is a random draw of sentences of sample reviews
of its label, so models trained on it learn nothing about real reviews.

imdb.vocab: the distinct lower-case words of the generated reviews, most frequent first.
"""

_POOL = {}                         # the sentence pool, in this process (see _set_pool)


def _split_review(text):
    """[(sentence, separator)] of one review; the separator is ' ' or a run of <br />."""
    out, pos = [], 0
    for m in SENTENCE_END.finditer(text):
        sep = re.sub(r'\s+', ' ', m.group(1).strip()) if m.group(1) else ' '
        unit = text[pos:m.start()].strip()
        if unit:
            out.append((unit, sep))
        elif out and sep != ' ':
            out[-1] = (out[-1][0], sep)
        pos = m.end()
    if text[pos:].strip():
        out.append((text[pos:].strip(), ' '))
    return out


def _sentence_pool(sample):
    """Sentences of the sample (text, text + separator, words), and the targets per kind."""
    path = Path(sample)
    df = pd.read_csv(path / 'texts.csv' if path.is_dir() else path)
    units, joined, words, label, lengths = [], [], [], [], []
    for text, lab in zip(df.text.astype(str), df.label):
        parts = _split_review(text)
        lengths.append((lab, sum(len(u.split()) for u, _ in parts)))
        units += [u for u, _ in parts]
        joined += [u + sep for u, sep in parts]
        words += [len(u.split()) for u, _ in parts]
        label += [lab] * len(parts)
    label, words = np.array(label), np.array(words)
    kinds = {}
    for kind, labs in LABELS.items():
        ids = np.flatnonzero(np.isin(label, labs))
        targets = np.array([n for lab, n in lengths if lab in labs])
        kinds[kind] = (ids, words[ids], targets)
    return {'units': units, 'joined': joined, 'kinds': kinds}


def _set_pool(pool):
    """Keep the sentence pool in this process (a worker's initializer)."""
    _POOL.update(pool)


def _draw_reviews(rng, kind, n):
    """The sentence ids of `n` reviews: sentences are drawn until a drawn length is reached
    (the sentence end nearer to it), so lengths follow the sample's."""
    ids, words, targets = _POOL['kinds'][kind]
    goal = rng.choice(targets, n)
    draws = np.empty(0, np.int64)
    cum = np.zeros(1, np.int64)
    reviews, start = [], 0
    for t in goal:
        end = np.searchsorted(cum, cum[start] + t)
        while end == len(cum):                           # the stream ran out: draw more
            more = rng.integers(0, len(ids), int(goal.sum() / words.mean()) + 64)
            draws = np.r_[draws, more]
            cum = np.r_[0, np.cumsum(words[draws])]
            end = np.searchsorted(cum, cum[start] + t)
        if end - 1 > start and cum[start] + t - cum[end - 1] < cum[end] - cum[start] - t:
            end -= 1                                     # stop at the nearer sentence end
        reviews.append(ids[draws[start:end]])
        start = end
    return reviews


def _write_chunk(task):
    """Write one chunk of reviews; return how often each sentence was used."""
    folder, kind, first, n, seed, folder_no, chunk_no = task
    rng = np.random.default_rng([seed, folder_no, chunk_no])
    ratings = list(RATINGS[kind])
    weights = np.array(list(RATINGS[kind].values()), float)
    rating = rng.choice(ratings, n, p=weights / weights.sum())
    units, joined = _POOL['units'], _POOL['joined']
    reviews = _draw_reviews(rng, kind, n)
    for i, sentences in enumerate(reviews):
        text = ''.join([joined[j] for j in sentences[:-1]]) + units[sentences[-1]]
        (Path(folder) / f'{first + i}_{rating[i]}.txt').write_bytes(text.encode('utf-8'))
    return n, np.bincount(np.concatenate(reviews), minlength=len(units))


def _tasks(dest, scale, seed):
    """The chunks to write, in a fixed order: (folder, kind, first id, n, seed, numbers)."""
    tasks = []
    for folder_no, (rel, real) in enumerate(IMDB_COUNTS.items()):
        n = max(MIN_REVIEWS, round(real * scale))
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for chunk_no, first in enumerate(range(0, n, CHUNK)):
            tasks.append((str(dest / rel), rel.split('/')[1], first, min(CHUNK, n - first),
                          seed, folder_no, chunk_no))
    return tasks


def _write_vocab(path, units, used):
    """imdb.vocab: the distinct lower-case words of the used sentences, most frequent first."""
    counts = Counter()
    for j in np.flatnonzero(used):
        for w, c in Counter(WORD.findall(units[j].lower())).items():
            counts[w] += c * int(used[j])
    words = sorted(counts, key=lambda w: (-counts[w], w))
    path.write_text(''.join(w + '\n' for w in words), encoding='utf-8')
    return len(words)


def make_imdb(sample, dest, scale=1.0, seed=0, workers=None):
    """Fill `dest` with a stand-in of Stanford's aclImdb v1 (the full IMDB set).

    Folders `train/pos`, `train/neg` (12,500 each), `train/unsup` (50,000), `test/pos`,
    `test/neg` (12,500 each): at scale s, round(real * s) reviews each, at least 10. One
    review per file, `{id}_{rating}.txt` (ids 0..n-1 per folder; ratings 7-10 for pos, 1-4
    for neg, weighted as in the real set, 0 for unsup), UTF-8. A review is sentences of
    sample reviews of its label (unsup: either), drawn at random until a length drawn from
    the sample's review lengths (in words) is reached; the `<br /><br />` that followed a
    sentence in its review follows it here too. Also writes `README` (says this is a
    stand-in) and `imdb.vocab`.

    Args:
        sample: the real sample: `texts.csv` (label,text,is_valid) or its folder.
        dest: an existing folder to fill.
        scale: the share of the real counts (1 = 100,000 reviews).
        seed: seeds every random choice; the same arguments give byte-identical files,
            whatever `workers` is.
        workers: processes writing reviews (default `os.cpu_count()`; 0 or 1: this process).

    Returns:
        {folder or file: count}: reviews per folder, and words in 'imdb.vocab'.

    Example:
        >>> make_imdb(Path('../shared/data/imdb_sample'), Path('standin'), 0.1)['train/pos']
        1250

    Used by `make_standin`.
    """
    dest = Path(dest)
    if not dest.is_dir():
        raise FileNotFoundError(f'{dest} is not a folder: create it first.')
    pool, tasks = _sentence_pool(sample), _tasks(dest, scale, seed)
    workers = os.cpu_count() if workers is None else workers
    used = np.zeros(len(pool['units']), np.int64)
    total = sum(t[3] for t in tasks)
    _set_pool(pool)
    ex = ProcessPoolExecutor(workers, initializer=_set_pool, initargs=(pool,)) \
        if workers > 1 else None
    try:
        with tqdm(total=total, desc='imdb', unit='file') as bar:
            for n, u in (ex.map(_write_chunk, tasks) if ex else map(_write_chunk, tasks)):
                used += u
                bar.update(n)
    finally:
        if ex:
            ex.shutdown(cancel_futures=True)
    counts = {rel: max(MIN_REVIEWS, round(real * scale)) for rel, real in IMDB_COUNTS.items()}
    readme = README.format(total=total, scale=scale, seed=seed)
    (dest / 'README').write_text(readme, encoding='utf-8')
    counts['imdb.vocab'] = _write_vocab(dest / 'imdb.vocab', pool['units'], used)
    return counts
