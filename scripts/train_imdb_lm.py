"""Lesson 04's language model as a script: an AWD-LSTM that predicts the next word of IMDB
reviews. Its encoder is saved for the classifier (`models/imdb_encoder.pth` and `.json`).

    python scripts/train_imdb_lm.py --epochs 4
    torchrun --nproc_per_node=8 scripts/train_imdb_lm.py --mode full
"""
import numpy as np

from common import finish, options
from coursehelpers import get_data, per_mode, seed_everything
from coursehelpers.text import (ActivationPenalty, LanguageModel, TextDataLoaders, Vocab,
                                lm_perplexity, read_imdb, rnn_learner, save_encoder,
                                tokenize_texts)


def main():
    args = options(__doc__, epochs=(4, 15), bs=(32, 52), lr=None)
    args.lr = args.lr or per_mode(quick=1e-2, full=3e-3)
    seed_everything(42)
    tokens = tokenize_texts(read_imdb(get_data('imdb')).text)
    is_valid = np.random.default_rng(42).random(len(tokens)) < 0.1
    lm_train = [t for t, v in zip(tokens, is_valid) if not v]
    lm_valid = [t for t, v in zip(tokens, is_valid) if v]
    vocab = Vocab.from_tokens(lm_train, max_size=per_mode(quick=3_000, full=60_000), min_freq=2)
    dls = TextDataLoaders.language_model(lm_train, lm_valid, vocab, bs=args.bs, bptt=70)
    emb_size, n_hid = per_mode(quick=128, full=400), per_mode(quick=128, full=1150)
    lm = LanguageModel(len(vocab), emb_size, n_hid, 3, pad_idx=vocab.pad_idx, drop_mult=0.7)
    learn = rnn_learner(dls, lm, cbs=[ActivationPenalty(alpha=2, beta=1)])
    learn.fit_one_cycle(args.epochs, args.lr)
    perplexity = lm_perplexity(learn.model, dls.valid)
    save_encoder(learn.model, vocab, learn.path / 'imdb_encoder')
    finish(args, valid_loss=float(learn.history.iloc[-1]['valid_loss']),
           perplexity=float(perplexity))


if __name__ == '__main__':
    main()
