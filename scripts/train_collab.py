"""Lesson 05 as a script: a dot-product model with biases on MovieLens ratings.

    python scripts/train_collab.py --epochs 10
    torchrun --nproc_per_node=2 scripts/train_collab.py --bs 1024    # same global batch
"""
import pandas as pd

from common import finish, options
from coursehelpers import get_data, seed_everything
from coursehelpers.collab import CollabDataLoaders, collab_learner


def main():
    args = options(__doc__, epochs=(10, 10), bs=(2048, 2048), lr=1e-2)
    seed_everything(42)
    ratings = pd.read_csv(get_data('ml-latest-small') / 'ratings.csv')
    dls = CollabDataLoaders.from_df(ratings, valid_pct=0.2, seed=42, bs=args.bs)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5), l2=0.1)
    learn.fit_one_cycle(args.epochs, args.lr)
    last = learn.history.iloc[-1]
    finish(args, valid_loss=float(last['valid_loss']), mse=float(last['mse']))


if __name__ == '__main__':
    main()
