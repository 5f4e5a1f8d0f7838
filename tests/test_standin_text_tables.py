"""The stand-ins of the full Rossmann and IMDB data sets, made from the real samples.

Generated into tmp_path at small scales (IMDB 0.02, Rossmann 0.03), plus Rossmann's real
1,017,209 rows at scale 1 (a few seconds). Checked: every file of the layout, the counts, IMDB's
file names and ratings, review lengths against the sample's, that a review's sentences come
from sample reviews of its label, Rossmann's columns, dtypes, dates and row order, the copied
tables byte for byte, and determinism (seed, and IMDB's worker count).
"""
import hashlib
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from coursehelpers.datasets.standin_text_tables import (IMDB_COUNTS, ROSSMANN_ROWS, WORD,
                                                        make_imdb, make_rossmann)

IMDB_SCALE, ROSSMANN_SCALE = 0.02, 0.03
NAME = re.compile(r'^(\d+)_(\d+)\.txt$')
RATINGS = {'pos': {7, 8, 9, 10}, 'neg': {1, 2, 3, 4}, 'unsup': {0}}
# The test's own sentence splitter: ., ! or ? followed by space, or a run of <br />.
SPLIT = re.compile(r'\s*(?:<br\s*/?>\s*)+|(?<=[.!?])\s+', re.IGNORECASE)
COLUMNS = ['Store', 'DayOfWeek', 'Date', 'Sales', 'Customers', 'Open', 'Promo', 'StateHoliday',
           'SchoolHoliday']
_BUILT = {}


def built(tmp_path_factory, make, sample, **kw):
    """(folder, returned counts) of `make(sample, folder, **kw)`, built once per session."""
    key = (make.__name__, tuple(sorted(kw.items())))
    if key not in _BUILT:
        dest = tmp_path_factory.mktemp(make.__name__)
        _BUILT[key] = dest, make(sample, dest, **kw)
    return _BUILT[key]


def digest(folder):
    """One hash of every file's relative path and bytes."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob('*')):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + b'\0' + p.read_bytes())
    return h.hexdigest()


def sentences(text):
    return [s.strip() for s in SPLIT.split(text) if s.strip()]


@pytest.fixture
def imdb(shared_data, tmp_path_factory):
    return built(tmp_path_factory, make_imdb, shared_data / 'imdb_sample', scale=IMDB_SCALE,
                 seed=0, workers=0)


@pytest.fixture
def sample_reviews(shared_data):
    return pd.read_csv(shared_data / 'imdb_sample' / 'texts.csv')


def test_imdb_layout_counts_names_and_ratings(imdb):
    dest, counts = imdb
    assert sorted(p.name for p in dest.iterdir()) == ['README', 'imdb.vocab', 'test', 'train']
    assert sorted(p.name for p in (dest / 'train').iterdir()) == ['neg', 'pos', 'unsup']
    assert sorted(p.name for p in (dest / 'test').iterdir()) == ['neg', 'pos']
    for rel, real in IMDB_COUNTS.items():
        n = max(10, round(real * IMDB_SCALE))
        names = [NAME.match(p.name) for p in (dest / rel).iterdir()]
        assert all(names) and counts[rel] == n
        assert sorted(int(m.group(1)) for m in names) == list(range(n))
        assert {int(m.group(2)) for m in names} == RATINGS[rel.split('/')[1]]
    assert 'stand-in' in (dest / 'README').read_text().lower()
    assert 'NOT the real data' in (dest / 'README').read_text()
    assert (dest / 'train' / 'unsup' / '0_0.txt').is_file()


def test_imdb_min_count_per_folder(shared_data, tmp_path):
    counts = make_imdb(shared_data / 'imdb_sample', tmp_path, scale=0.0001, workers=0)
    for rel in IMDB_COUNTS:
        assert counts[rel] == 10 == len(list((tmp_path / rel).iterdir()))


def test_imdb_review_lengths_follow_the_sample(imdb, sample_reviews):
    dest, _ = imdb
    texts = [p.read_text(encoding='utf-8') for p in dest.rglob('*.txt')]
    words = np.array([len(t.split()) for t in texts])
    sample_words = sample_reviews.text.str.split().str.len()
    assert 1 / 1.5 < np.median(words) / sample_words.median() < 1.5
    assert 1 / 1.5 < words.mean() / sample_words.mean() < 1.5
    assert words.max() < 2 * sample_words.max() and words.min() >= 10
    assert 0.3 < np.mean(['<br /><br />' in t for t in texts]) < 0.95   # sample: 0.61


def made_of(piece, units, open_units):
    """Whether `piece` is a sentence of `units`, or several joined by spaces where the first ones
    end without . ! or ? (a review's last sentence, e.g. '8/10', used mid-review)."""
    if piece in units:
        return True
    return any(piece.startswith(u + ' ') and made_of(piece[len(u) + 1:], units, open_units)
               for u in open_units)


@pytest.mark.parametrize('rel,labels', [('train/pos', ['positive']), ('test/neg', ['negative']),
                                        ('train/unsup', ['positive', 'negative'])])
def test_imdb_sentences_come_from_reviews_of_the_label(imdb, sample_reviews, rel, labels):
    dest, _ = imdb
    units = {s for t in sample_reviews.text[sample_reviews.label.isin(labels)]
             for s in sentences(t)}
    open_units = {u for u in units if not re.search(r'[.!?]$', u)}
    for p in sorted((dest / rel).iterdir())[:8]:
        pieces = sentences(p.read_text(encoding='utf-8'))
        assert pieces and all(made_of(s, units, open_units) for s in pieces), p.name


def test_imdb_vocab_is_the_words_most_frequent_first(imdb):
    dest, counts = imdb
    vocab = (dest / 'imdb.vocab').read_text(encoding='utf-8').splitlines()
    found = Counter(w for p in dest.rglob('*.txt')      # the words of the text, not of <br />
                    for w in WORD.findall(SPLIT.sub(' ', p.read_text(encoding='utf-8').lower())))
    assert set(vocab) == set(found) and len(vocab) == len(set(vocab)) == counts['imdb.vocab']
    assert [found[w] for w in vocab] == sorted(found.values(), reverse=True)
    assert vocab[0] == 'the' and all(w == w.lower() for w in vocab)


def test_imdb_is_deterministic_whatever_the_workers(imdb, shared_data, tmp_path_factory):
    same, _ = built(tmp_path_factory, make_imdb, shared_data / 'imdb_sample',
                    scale=IMDB_SCALE, seed=0, workers=2)
    other, _ = built(tmp_path_factory, make_imdb, shared_data / 'imdb_sample',
                     scale=IMDB_SCALE, seed=1, workers=0)
    assert digest(imdb[0]) == digest(same)
    assert digest(imdb[0]) != digest(other)


@pytest.fixture
def rossmann(shared_data, tmp_path_factory):
    return built(tmp_path_factory, make_rossmann, shared_data / 'rossmann',
                 scale=ROSSMANN_SCALE, seed=0)


def test_rossmann_copies_every_other_table_unchanged(rossmann, shared_data):
    dest, counts = rossmann
    sample = shared_data / 'rossmann'
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in sample.glob('*.csv'))
    for f in sample.glob('*.csv'):
        if f.name != 'train.csv':
            assert (dest / f.name).read_bytes() == f.read_bytes(), f.name
    assert counts['test.csv'] == 41_088


def test_rossmann_train_has_the_real_columns_dates_and_order(rossmann, shared_data):
    dest, counts = rossmann
    header = (shared_data / 'rossmann' / 'train.csv').read_text().splitlines()[0]
    assert (dest / 'train.csv').read_text().splitlines()[0] == header == ','.join(COLUMNS)
    df = pd.read_csv(dest / 'train.csv', low_memory=False)
    assert list(df.columns) == COLUMNS and len(df) == counts['train.csv']
    assert all(df[c].dtype == np.int64 for c in COLUMNS if c not in ('Date', 'StateHoliday'))
    assert set(df.StateHoliday.astype(str)) <= {'0', 'a', 'b', 'c'}
    assert (df.Date.min(), df.Date.max(), df.Date.nunique()) == ('2013-01-01', '2015-07-31', 942)
    assert (df.Sales[df.Open == 0] == 0).all() and (df.Sales[df.Open == 1] > 0).all()
    date = pd.to_datetime(df.Date)
    assert (date.diff().dropna() <= pd.Timedelta(0)).all()            # newest day first
    assert df.groupby('Date', sort=False).Store.apply(lambda s: s.is_monotonic_increasing).all()


def test_rossmann_stores_and_row_count_at_a_small_scale(rossmann):
    dest, counts = rossmann
    df = pd.read_csv(dest / 'train.csv', usecols=['Store', 'Date'])
    stores = sorted(df.Store.unique())
    k = max(30, round(1115 * ROSSMANN_SCALE))
    assert len(stores) == k and stores[0] == 1 and stores[-1] <= 1115
    in_gap = df.Date.between('2014-07-01', '2014-12-31')
    gap_stores = k - df[in_gap].Store.nunique()
    assert gap_stores == round(180 * k / 1115)
    assert counts['train.csv'] == len(df) == k * 942 - gap_stores * 184 - (988 in stores)


def test_rossmann_is_deterministic(rossmann, shared_data, tmp_path):
    again, other = tmp_path / 'again', tmp_path / 'other'
    again.mkdir(), other.mkdir()
    make_rossmann(shared_data / 'rossmann', again, scale=ROSSMANN_SCALE, seed=0)
    make_rossmann(shared_data / 'rossmann', other, scale=ROSSMANN_SCALE, seed=1)
    assert digest(rossmann[0]) == digest(again) != digest(other)
    with pytest.raises(ValueError):
        make_rossmann(shared_data / 'rossmann', other, scale=1.5)


def test_rossmann_full_scale_has_the_real_row_count(shared_data, tmp_path):
    counts = make_rossmann(shared_data / 'rossmann', tmp_path, scale=1.0, seed=0)
    with open(tmp_path / 'train.csv', 'rb') as f:
        rows = sum(1 for _ in f) - 1
    assert counts['train.csv'] == rows == ROSSMANN_ROWS == 1_017_209
