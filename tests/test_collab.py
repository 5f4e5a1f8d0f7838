"""Collaborative filtering: id maps, the loaders, the models, finding movies by title (lesson 05)."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from coursehelpers.collab import (CollabDataLoaders, DotProduct, EmbeddingDotBias, EmbeddingNN,
                                  IdMap, collab_learner, find_movies, mse, predict_ratings,
                                  title_key)

ROOT = Path(__file__).resolve().parents[1]


def tiny_ratings():
    g = torch.Generator().manual_seed(0)
    users = [10, 20, 30, 40] * 25
    items = [(7 * k) % 11 * 100 + 5 for k in range(100)]
    r = (torch.randint(1, 11, (100,), generator=g) / 2).tolist()
    return pd.DataFrame({'userId': users, 'movieId': items, 'rating': r})


def test_idmap_round_trip_and_unknown():
    m = IdMap([193609, 1, 50, 1, 3], 'item')
    assert m.ids == [1, 3, 50, 193609]
    assert m.encode([50, 193609, 1]).tolist() == [2, 3, 0]
    assert m.decode(m.encode([3, 193609])).tolist() == [3, 193609]
    with pytest.raises(KeyError, match=r'Unknown item \[999\].*4 items'):
        m.encode([1, 999])


def test_dot_product_by_hand_equals_model():
    torch.manual_seed(0)
    model = DotProduct(5, 7, n_factors=4)
    u, i = torch.tensor([0, 4, 2]), torch.tensor([6, 0, 3])
    by_hand = (model.u.weight[u] * model.i.weight[i]).sum(1)
    assert torch.allclose(by_hand, model(u, i))
    biased = EmbeddingDotBias(5, 7, n_factors=4, y_range=None)
    biased.load_state_dict({**model.state_dict(), 'ub.weight': torch.ones(5, 1),
                            'ib.weight': torch.full((7, 1), 2.0)})
    assert torch.allclose(biased(u, i), by_hand + 3)


def test_sigmoid_range_bounds_outputs():
    model = EmbeddingDotBias(3, 3, n_factors=2, y_range=(1, 4))
    with torch.no_grad():
        model.u.weight.fill_(10.0); model.i.weight.fill_(10.0)
    out = model(torch.tensor([0, 1]), torch.tensor([1, 2]))
    assert (out <= 4).all() and (out >= 1).all() and out.max() > 3.99
    assert EmbeddingNN(3, 3, 2, n_hidden=4)(torch.tensor([0]), torch.tensor([2])).shape == (1,)


def test_loaders_split_and_batches():
    df = tiny_ratings()
    dls = CollabDataLoaders.from_df(df, valid_pct=0.2, seed=1, bs=16)
    assert len(dls.train.dataset) == 80 and len(dls.valid.dataset) == 20
    seen = torch.cat([b[2] for b in dls.train] + [b[2] for b in dls.valid])
    assert sorted(seen.tolist()) == sorted(df.rating.tolist())
    u, i, r = next(iter(dls.valid))
    assert u.dtype == torch.long and len(u) == 20 and int(i.max()) < len(dls.items)
    again = CollabDataLoaders.from_df(df, valid_pct=0.2, seed=1, bs=16)
    assert torch.equal(again.valid.dataset.tensors[2], dls.valid.dataset.tensors[2])
    with pytest.raises(ValueError, match='no column'):
        CollabDataLoaders.from_df(df.rename(columns={'rating': 'stars'}))


def test_learner_trains_and_predicts_raw_ids(tmp_path):
    df = tiny_ratings()
    dls = CollabDataLoaders.from_df(df, bs=16)
    learn = collab_learner(dls, n_factors=3, y_range=(0, 5.5))
    learn.path, learn.progress = tmp_path, False
    learn.fit_one_cycle(2, 1e-2)
    assert 'mse' in learn.history and learn.history['mse'].notna().all()
    preds = predict_ratings(learn, [10, 40], [5, 105])
    u, i = dls.users.encode([10, 40]), dls.items.encode([5, 105])
    expected = learn.model.eval()(u.to(learn.device), i.to(learn.device)).detach().cpu()
    assert torch.allclose(preds, expected)                 # on the model's device, CUDA too
    with pytest.raises(KeyError, match='Unknown user'):
        predict_ratings(learn, [11], [5])
    assert mse(torch.tensor([1., 2.]), torch.tensor([1., 4.])) == 2.0


def test_real_movielens_mapping(shared_data):
    ratings = pd.read_csv(shared_data / 'ml-latest-small' / 'ratings.csv')
    dls = CollabDataLoaders.from_df(ratings)
    assert len(dls.users) == 610 and len(dls.items) == 9724
    assert len(dls.valid.dataset) == round(0.2 * len(ratings))
    assert dls.items.decode(dls.items.encode([193609])).tolist() == [193609]


@pytest.mark.parametrize('damage,column,words', [
    (lambda df: df.assign(rating=df.rating.where(df.index % 10 != 3)), 'rating', 'no rating'),
    (lambda df: df.assign(rating=df.rating.astype(object).where(df.index != 7, 'four')), 'rating',
     "not a number (the first is 'four')"),
    (lambda df: df.assign(userId=df.userId.astype(float).where(df.index != 5)), 'userId', 'empty id'),
    (lambda df: df.assign(movieId=df.movieId.astype(str).where(df.index != 9, ' ')), 'movieId', 'empty id'),
])
def test_bad_ratings_are_refused_with_the_column_and_the_count(damage, column, words):
    bad = damage(tiny_ratings())
    with pytest.raises(ValueError) as e:
        CollabDataLoaders.from_df(bad)
    msg = str(e.value)
    assert repr(column) in msg and words in msg and 'then build the loaders again' in msg
    n = 10 if column == 'rating' and words == 'no rating' else 1
    assert f'has {n} row' in msg


def test_nan_ratings_never_reach_y_range():
    bad = tiny_ratings()
    bad.loc[3, 'rating'] = float('nan')
    with pytest.raises(ValueError, match=r"1 row \(for example \[3\]\) with no rating"):
        CollabDataLoaders.from_df(bad)                      # before: y_range (nan, nan), NaN loss


def test_an_empty_table_and_an_empty_id_at_prediction_say_so():
    with pytest.raises(ValueError, match='no rows'):
        CollabDataLoaders.from_df(tiny_ratings().iloc[:0])
    with pytest.raises(KeyError, match='empty'):
        IdMap([1, 2], 'user').encode([float('nan')])


def test_titles_match_whatever_the_case_the_year_and_the_article():
    assert title_key('Matrix, The (1999)') == title_key('the MATRIX') == 'the matrix'
    assert title_key('City of Lost Children, The (Cité des enfants perdus, La) (1995)') == \
        'the city of lost children'
    assert title_key("Schindler's List (1993)") == 'schindler s list'
    movies = pd.DataFrame({'movieId': [7, 8, 9, 30, 41],
                           'title': ['Toy Story 2 (1999)', 'Toy Story (1995)', 'Matrix, The (1999)',
                                     'Matrix Reloaded, The (2003)', 'Animatrix, The (2003)']})
    ratings = pd.DataFrame({'movieId': [7, 7, 7, 8, 30, 30, 9, 41, 41, 41, 41]})
    found = find_movies(movies, ['toy story', 'The Matrix', 'matrix'], ratings)
    # an exact title beats a more rated partial match; then the most rated partial match,
    # never one already chosen, and never a word inside another word ('Animatrix')
    assert found.movieId.tolist() == [8, 9, 30]
    assert found.found.tolist() == ['by title'] * 3
    assert find_movies(movies, ['Reloaded'])['title'].tolist() == ['Matrix Reloaded, The (2003)']


def test_a_missing_title_falls_back_to_the_most_rated_movie_or_says_what_to_do():
    movies = pd.DataFrame({'movieId': [1, 2, 3], 'title': ['Fargo (1996)', 'Heat (1995)',
                                                          'Casino (1995)']})
    ratings = pd.DataFrame({'movieId': [3, 3, 3, 2, 2, 1]})
    found = find_movies(movies, ['Matrix, The', 'Fargo', 'Star Wars'], ratings)
    assert found.movieId.tolist() == [3, 1, 2]             # Casino: most rated; Heat: next left
    assert found.found.tolist() == ['not found: most rated instead', 'by title',
                                    'not found: most rated instead']
    with pytest.raises(KeyError) as e:
        find_movies(movies, ['Fargoo'])
    assert "'Fargoo'" in str(e.value) and 'Fargo (1996)' in str(e.value) and 'ratings=' in str(e.value)
    with pytest.raises(ValueError, match='not a title'):
        find_movies(movies, ['(1999)'], ratings)


def remapped_movielens(src, dest, n_ratings=30_000):
    """A MovieLens-shaped folder with other ids, as another release would have: movies renumbered
    from 500,000 and users from 5,000, every Matrix film gone (ml-100k ends in 1998), a
    random `n_ratings` of the ratings. Returns {title: new id}."""
    movies = pd.read_csv(src / 'movies.csv')
    ratings = pd.read_csv(src / 'ratings.csv')
    gone = movies.movieId[movies.title.str.contains('Matrix')].tolist()
    assert len(gone) >= 3
    movies, ratings = movies[~movies.movieId.isin(gone)], ratings[~ratings.movieId.isin(gone)]
    new_id = {old: 500_000 + 3 * k for k, old in enumerate(movies.movieId.sample(frac=1, random_state=0))}
    ratings = ratings.sample(n_ratings, random_state=0).sort_index()
    ratings = ratings.assign(userId=ratings.userId + 5_000, movieId=ratings.movieId.map(new_id))
    movies = movies.assign(movieId=movies.movieId.map(new_id))
    dest.mkdir(parents=True)
    ratings.to_csv(dest / 'ratings.csv', index=False)
    movies.to_csv(dest / 'movies.csv', index=False)
    return dict(zip(movies.title, movies.movieId)), ratings


def test_the_lesson_runs_on_a_movielens_release_with_other_ids(tmp_path, data_root, shared_data):
    pytest.importorskip('nbclient', reason="the lesson runs in a Jupyter kernel: pip install -e '.[dev]'")
    import nbformat
    ids, ratings = remapped_movielens(shared_data / 'ml-latest-small', data_root / 'ml-latest-small')
    out = tmp_path / 'runs'
    proc = subprocess.run([sys.executable, '-m', 'coursehelpers', 'lessons', 'run',
                           str(ROOT / 'nbs' / '05_movielens.ipynb'), '--out', str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nb = nbformat.read(out / '05_movielens.ipynb', as_version=4)
    cell = next(c for c in nb.cells if 'find_movies(' in c.source)
    table = ''.join(o['data']['text/plain'] for o in cell.outputs if 'data' in o)
    most_rated = ratings.movieId.value_counts().index[0]
    top_user = ratings.userId.value_counts().index[0]
    for movie in (ids['Toy Story (1995)'], ids['Lord of the Rings: The Fellowship of the Ring, The (2001)'],
                  most_rated):
        assert str(movie) in table, table
    assert 'not found: most rated instead' in table and str(top_user) in table
