"""Collaborative filtering: ratings as (user, item) index pairs, and the embedding models.

A rating table has raw ids (MovieLens `userId`, `movieId`) that are neither contiguous
nor start at 0. `IdMap` turns them into row numbers of an embedding and back; the maps
travel with the data and with the model, so `predict_ratings(learn, users, items)` works
on raw ids and refuses an id it has never seen.

>>> dls = CollabDataLoaders.from_csv(path / 'ratings.csv')          # doctest: +SKIP
>>> learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))     # doctest: +SKIP
>>> learn.fit_one_cycle(5, 5e-3)                                    # doctest: +SKIP

Used in lesson 05.
"""
import difflib
import re

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from .training.learner import Learner
from .training.loaders import DataLoaders

__all__ = ['IdMap', 'check_ratings', 'CollabDataLoaders', 'DotProduct', 'EmbeddingDotBias', 'EmbeddingNN',
           'EmbeddingL2', 'collab_learner', 'predict_ratings', 'mse', 'title_key', 'find_movies']


class IdMap:
    """Raw ids <-> contiguous indices 0..n-1 (the rows of an embedding).

    >>> m = IdMap([30, 10, 20, 10])
    >>> m.ids, m.encode([10, 30]).tolist(), m.decode([2]).tolist()
    ([10, 20, 30], [0, 2], [30])

    Used by `CollabDataLoaders.from_df` (lesson 05).
    """

    def __init__(self, ids, name='id'):
        self.ids = sorted(set(np.asarray(ids).tolist()))
        self.name = name
        self.index = {v: i for i, v in enumerate(self.ids)}

    def __len__(self):
        return len(self.ids)

    def encode(self, ids):
        """Raw ids -> a LongTensor of indices; an unknown id raises a KeyError that names it."""
        values = np.atleast_1d(np.asarray(ids)).tolist()
        empty = [v for v in values if v is None or (isinstance(v, float) and v != v)]
        if empty:
            raise KeyError(f'{len(empty)} of the {self.name}s asked for are empty (NaN or None): '
                           f'give a {self.name} id from the ratings the model was trained on.')
        unknown = [v for v in values if v not in self.index]
        if unknown:
            raise KeyError(f'Unknown {self.name} {unknown[:5]}: the model only knows the '
                           f'{len(self)} {self.name}s of its training data (for example '
                           f'{self.ids[:3]}). Use an id from the ratings it was trained on.')
        return torch.tensor([self.index[v] for v in values], dtype=torch.long)

    def decode(self, idx):
        """Indices -> an array of raw ids."""
        return np.asarray(self.ids, dtype=object if isinstance(self.ids[0], str) else None)[
            np.asarray(idx)]


def _rows(mask):
    """'N rows (for example rows 3, 17)' for a boolean Series over a table's rows."""
    idx = mask[mask].index.tolist()
    return f'{len(idx):,} row{"s" if len(idx) != 1 else ""} (for example {idx[:5]})'


def check_ratings(ratings, user='userId', item='movieId', rating='rating'):
    """Return `ratings` with a numeric rating column, or raise ValueError naming the column,
    how many rows are wrong and what to do: a missing column, an empty table, an empty
    (NaN or blank) id, a missing, infinite or non-numeric rating. Nothing is dropped silently.

    >>> check_ratings(pd.DataFrame({'userId': [1], 'movieId': [2], 'rating': [float('nan')]}))
    Traceback (most recent call last):
    ...
    ValueError: The ratings table has 1 row (for example [0]) with no rating in column 'rating' (NaN)...

    Used by `CollabDataLoaders.from_df` (lesson 05).
    """
    missing = [c for c in (user, item, rating) if c not in ratings.columns]
    if missing:
        raise ValueError(f'The ratings table has no column {missing}; it has '
                         f'{list(ratings.columns)}. Pass user=, item=, rating= to name them.')
    if len(ratings) == 0:
        raise ValueError('The ratings table has no rows: check the file it was read from '
                         '(and any filter applied to it) before building the loaders.')
    for col in (user, item):
        ids = ratings[col]
        empty = ids.isna() | (ids.astype(str).str.strip() == '')
        if empty.any():
            raise ValueError(f'The ratings table has {_rows(empty)} with an empty id in column '
                             f'{col!r}. Drop them with ratings.dropna(subset=[{col!r}]) (or fix '
                             'them), then build the loaders again.')
    raw = ratings[rating]
    values = pd.to_numeric(raw, errors='coerce')
    words = values.isna() & raw.notna()
    if words.any():
        first = raw[words].iloc[0]
        raise ValueError(f'The ratings table has {_rows(words)} whose rating in column {rating!r} '
                         f'is not a number (the first is {first!r}). Fix or drop them (for example '
                         f'ratings[{rating!r}] = pd.to_numeric(ratings[{rating!r}], errors="coerce") '
                         'then dropna), then build the loaders again.')
    if values.isna().any():
        raise ValueError(f'The ratings table has {_rows(values.isna())} with no rating in column '
                         f'{rating!r} (NaN). Drop them with ratings.dropna(subset=[{rating!r}]) (or '
                         'fill them), then build the loaders again.')
    if not np.isfinite(values).all():
        raise ValueError(f'The ratings table has {_rows(~np.isfinite(values))} with an infinite '
                         f'rating in column {rating!r}. Fix or drop them, then build the loaders again.')
    if values is not raw:
        ratings = ratings.assign(**{rating: values})
    return ratings


def _batches(ds, bs, shuffle):
    """A DataLoader that indexes `ds` (a TensorDataset) with a whole batch of indices at
    once: one tensor lookup per batch instead of one per rating, much faster on a CPU."""
    sampler = (RandomSampler if shuffle else SequentialSampler)(ds)
    return DataLoader(ds, sampler=BatchSampler(sampler, bs, drop_last=False), batch_size=None)


class CollabDataLoaders(DataLoaders):
    """Training and validation loaders of (user index, item index, rating) triples.

    Attributes beyond `DataLoaders`: `users` and `items` (`IdMap`s), `ratings` (the table),
    `y_range` (lowest and highest rating). Batches are `(users, items, ratings)`.

    Used in lesson 05.
    """

    def __init__(self, train, valid, users, items, ratings, y_range):
        super().__init__(train, valid)
        self.users, self.items, self.ratings, self.y_range = users, items, ratings, y_range
        self.batch_size = len(next(iter(train.sampler)))

    @classmethod
    def from_df(cls, ratings, user='userId', item='movieId', rating='rating', valid_pct=0.2,
                seed=42, bs=2048):
        """Loaders from a DataFrame of ratings, with a seeded random `valid_pct` validation set.

        Args:
            ratings: a DataFrame with columns `user`, `item`, `rating`.
            valid_pct, seed: the share of ratings held out, and the seed that picks them.
            bs: ratings per mini-batch (large batches: the models are tiny).
        >>> dls = CollabDataLoaders.from_df(pd.read_csv(path / 'ratings.csv'))  # doctest: +SKIP

        Used in lesson 05.
        """
        ratings = check_ratings(ratings, user, item, rating)
        users, items = IdMap(ratings[user], 'user'), IdMap(ratings[item], 'item')
        u, i = users.encode(ratings[user].values), items.encode(ratings[item].values)
        r = torch.tensor(ratings[rating].to_numpy(dtype='float64'), dtype=torch.float32)
        order = torch.randperm(len(r), generator=torch.Generator().manual_seed(seed))
        n_valid = int(round(valid_pct * len(r)))
        valid_idx, train_idx = order[:n_valid].sort().values, order[n_valid:]
        train_ds = TensorDataset(u[train_idx], i[train_idx], r[train_idx])
        valid_ds = TensorDataset(u[valid_idx], i[valid_idx], r[valid_idx])
        y_range = (float(r.min()), float(r.max()))
        return cls(_batches(train_ds, bs, True), _batches(valid_ds, bs * 2, False),
                   users, items, ratings, y_range)

    @classmethod
    def from_csv(cls, csv, **kwargs):
        """`from_df(pd.read_csv(csv), **kwargs)`."""
        return cls.from_df(pd.read_csv(csv), **kwargs)


class DotProduct(nn.Module):
    """rating = user factors . item factors (no bias, no range): the simplest model.

    Used in lesson 05.
    """

    def __init__(self, n_users, n_items, n_factors=50):
        super().__init__()
        self.u, self.i = nn.Embedding(n_users, n_factors), nn.Embedding(n_items, n_factors)
        for e in (self.u, self.i):
            nn.init.normal_(e.weight, std=0.01)

    def forward(self, users, items):
        return (self.u(users) * self.i(items)).sum(1)


class EmbeddingDotBias(DotProduct):
    """Dot product plus a bias per user and per item, squashed into `y_range` by a sigmoid.

    `y_range=None` leaves the output unsquashed. `lesson 05` compares both.

    >>> m = EmbeddingDotBias(3, 4, n_factors=2, y_range=(0, 5.5))
    >>> m(torch.tensor([0, 2]), torch.tensor([1, 3])).shape
    torch.Size([2])

    Used by `collab_learner` (lesson 05).
    """

    def __init__(self, n_users, n_items, n_factors=50, y_range=(0, 5.5)):
        super().__init__(n_users, n_items, n_factors)
        self.ub, self.ib = nn.Embedding(n_users, 1), nn.Embedding(n_items, 1)
        for e in (self.ub, self.ib):
            nn.init.zeros_(e.weight)
        self.y_range = y_range

    def forward(self, users, items):
        out = super().forward(users, items) + self.ub(users)[:, 0] + self.ib(items)[:, 0]
        if self.y_range is None:
            return out
        lo, hi = self.y_range
        return torch.sigmoid(out) * (hi - lo) + lo


class EmbeddingNN(nn.Module):
    """A small neural network: concatenated user and item embeddings -> hidden layer -> rating.

    >>> EmbeddingNN(3, 4, n_factors=2, n_hidden=8)(torch.tensor([0]), torch.tensor([1])).shape
    torch.Size([1])

    Used by `collab_learner` (lesson 05).
    """

    def __init__(self, n_users, n_items, n_factors=50, n_hidden=64, p_emb=0.05, p_hidden=0.3,
                 y_range=(0, 5.5)):
        super().__init__()
        self.u, self.i = nn.Embedding(n_users, n_factors), nn.Embedding(n_items, n_factors)
        for e in (self.u, self.i):
            nn.init.normal_(e.weight, std=0.01)
        self.layers = nn.Sequential(nn.Dropout(p_emb), nn.Linear(2 * n_factors, n_hidden),
                                    nn.ReLU(), nn.Dropout(p_hidden), nn.Linear(n_hidden, 1))
        self.y_range = y_range

    def forward(self, users, items):
        out = self.layers(torch.cat([self.u(users), self.i(items)], dim=1))[:, 0]
        lo, hi = self.y_range
        return torch.sigmoid(out) * (hi - lo) + lo


def mse(preds, targets):
    """Mean squared error of predicted ratings (a metric). Used in lesson 05."""
    return ((preds.float().view(-1) - targets.float().view(-1)) ** 2).mean().item()


class EmbeddingL2:
    """A callback adding `l2` x (mean squared norm of this batch's embedding rows) to the loss.

    Weight decay on only the rows a batch uses: a movie rated often is pulled towards zero
    often, a rarely rated one rarely (as the 2018 course's `wd` on embeddings did). On
    MovieLens this regularises better than AdamW's decoupled decay of every row.

    Used by `collab_learner` (lesson 05).
    """

    def __init__(self, l2=0.1):
        self.l2 = l2

    def after_loss(self, learn):
        users, items = learn.xb
        m = learn.model
        penalty = m.u(users).pow(2).sum(1).mean() + m.i(items).pow(2).sum(1).mean()
        if hasattr(m, 'ub'):
            penalty = penalty + m.ub(users).pow(2).mean() + m.ib(items).pow(2).mean()
        learn.loss = learn.loss + self.l2 * penalty


def collab_learner(dls, n_factors=50, y_range=(0, 5.5), use_nn=False, l2=0.1, wd=0.0, **kwargs):
    """A Learner with an `EmbeddingDotBias` (or `EmbeddingNN` with `use_nn=True`) model,
    MSE loss and the `mse` metric. The model keeps the id maps (`model.users`, `model.items`).

    Args:
        l2: strength of `EmbeddingL2` (0: none); wd: AdamW's decoupled weight decay.
        Other keyword arguments go to the model (for example n_hidden for the network).

    >>> learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))    # doctest: +SKIP

    Used in lesson 05.
    """
    make = EmbeddingNN if use_nn else EmbeddingDotBias
    model = make(len(dls.users), len(dls.items), n_factors, y_range=y_range, **kwargs)
    model.users, model.items = dls.users, dls.items
    cbs = [EmbeddingL2(l2)] if l2 else []
    return Learner(model, dls, nn.MSELoss(), metrics=[mse], wd=wd, cbs=cbs)


def predict_ratings(learn, users, items):
    """Predicted ratings for raw ids (lists or arrays of the same length, or single ids).

    The ids go through the maps the model was trained with; an unknown id raises a KeyError.

    >>> predict_ratings(learn, [1, 1], [1, 50])                  # doctest: +SKIP
    tensor([4.61, 4.87])

    Used in lesson 05.
    """
    model = learn.model
    u, i = model.users.encode(users), model.items.encode(items)
    if len(u) != len(i):
        raise ValueError(f'Got {len(u)} users and {len(i)} items: give one user per item.')
    return learn.predict((u, i))


def title_key(title):
    """A title reduced for matching: lower case, no year or other bracketed end, a trailing
    article moved to the front, punctuation as spaces.

    >>> title_key('Matrix, The (1999)'), title_key('the Matrix')
    ('the matrix', 'the matrix')
    >>> title_key('Lord of the Rings: The Two Towers, The (2002)')
    'the lord of the rings the two towers'

    Used by `find_movies` (lesson 05).
    """
    t = re.sub(r'(\s*\([^()]*\))+\s*$', '', str(title)).strip().lower()
    t = re.sub(r'^(.*),\s*(the|a|an)$', r'\2 \1', t)
    return ' '.join(re.findall(r'\w+', t))


def find_movies(movies, titles, ratings=None, item='movieId', title='title'):
    """The movies of `movies` (columns `item`, `title`) whose titles match `titles`, one row each.

    Matching ignores case, punctuation, the year and where the article goes ('Matrix, The',
    'the matrix'); a title may be the start or any run of whole words of the full one. When
    several movies match, an exact title wins, then the most rated (with `ratings`). A title
    that matches nothing is replaced, with `ratings`, by the most rated movie not already
    chosen (`found` then says 'not found: most rated instead'); without `ratings` it raises
    a KeyError naming the nearest titles. Returns a DataFrame: asked, `item`, `title`, found.

    >>> find_movies(movies, ['Toy Story', 'Matrix, The'], ratings)   # doctest: +SKIP

    Used in lesson 05.
    """
    keys = movies[title].map(title_key)
    counts = (ratings[item].value_counts() if ratings is not None
              else pd.Series(0, index=movies[item].unique()))
    popular = movies.assign(n=movies[item].map(counts).fillna(0)).sort_values('n', ascending=False)
    rows, chosen = [], set()
    for asked in titles:
        q = title_key(asked)
        if not q:
            raise ValueError(f'{asked!r} is not a title: give some words of the movie\'s title.')
        hits = movies[(keys == q) | keys.map(lambda k: f' {q} ' in f' {k} ')]
        hits = hits.assign(exact=keys[hits.index] == q, n=hits[item].map(counts).fillna(0))
        hits = hits[~hits[item].isin(chosen)].sort_values(['exact', 'n'], ascending=False)
        if len(hits):
            row, found = hits.iloc[0], 'by title'
        elif ratings is not None and len(left := popular[~popular[item].isin(chosen)]):
            row, found = left.iloc[0], 'not found: most rated instead'
        else:
            near = difflib.get_close_matches(str(asked), movies[title].astype(str), n=3, cutoff=0.4)
            raise KeyError(f'No movie title matches {asked!r} among the {len(movies):,} movies '
                           f'(nearest: {near or "none"}). Try a shorter part of the title, or '
                           'pass ratings= to fall back to the most rated movies.')
        chosen.add(row[item])
        rows.append({'asked': asked, item: row[item], title: row[title], 'found': found})
    return pd.DataFrame(rows, columns=['asked', item, title, 'found'])
