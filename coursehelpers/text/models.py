"""The networks of lesson 04: an AWD-LSTM language model, and a classifier built on its encoder.

The encoder (`AWDLSTM`) is an embedding and a stack of LSTM layers with the dropouts of
Merity et al.'s AWD-LSTM (2017): whole words dropped from the embedding, the same dropout
mask at every time step on the inputs and between layers, and dropout on the LSTMs'
hidden-to-hidden weights (DropConnect). `LanguageModel` adds a decoder that shares its
weights with the embedding (tied weights) and predicts the next token everywhere;
`TextClassifier` pools the encoder's outputs over the whole review (last state, max,
mean) and classifies that. `save_encoder` and `load_encoder` carry the trained encoder,
with its vocabulary, from the first model to the second.

>>> lm = LanguageModel(len(vocab), emb_size=400, n_hid=1150, n_layers=3)   # doctest: +SKIP
>>> save_encoder(lm, vocab, 'models/imdb_enc')                             # doctest: +SKIP
>>> clas = TextClassifier(len(vocab), 2, emb_size=400, n_hid=1150)         # doctest: +SKIP
>>> load_encoder(clas, 'models/imdb_enc', vocab)                           # doctest: +SKIP

Used in lesson 04.
"""
import json
import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..env.device import autocast
from ..env.distributed import barrier, is_main
from ..training.checkpoint import check_same_architecture, load_tensors
from ..training.loop_timing import loop_batches
from .data import BOS, PAD, UNK, detokenize, tokenize

__all__ = ['LockedDropout', 'embedding_dropout', 'WeightDropLSTM', 'AWDLSTM', 'LanguageModel',
           'ActivationPenalty', 'concat_pool', 'TextClassifier', 'encoder_features', 'save_encoder',
           'load_encoder', 'lm_perplexity', 'generate_text']


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, the same at every time step (inputs are bs x seq x n).

    Used by `AWDLSTM` and `LanguageModel` (lesson 04).
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p)
        return x * mask / (1 - self.p)


def embedding_dropout(emb, x, p, training):
    """Look `x` up in the embedding `emb` with whole words dropped: a dropped word's vector
    is zero wherever it appears in the batch, the others are scaled by 1 / (1 - p).

    Used by `AWDLSTM`, the encoder of `LanguageModel` and `TextClassifier` (lesson 04).
    """
    weight = emb.weight
    if training and p > 0:
        mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
        weight = weight * mask
    return F.embedding(x, weight, emb.padding_idx)


class WeightDropLSTM(nn.Module):
    """One LSTM layer whose hidden-to-hidden weights get dropout on each training batch.

    The weights stay the module's own (`lstm.weight_hh_l0`, as in a plain `nn.LSTM`); each
    training call runs the LSTM with a dropped-out copy of them (`torch.func.functional_call`).

    >>> WeightDropLSTM(3, 4, weight_p=0.5)(torch.zeros(2, 5, 3))[0].shape
    torch.Size([2, 5, 4])

    Used by `AWDLSTM`, the encoder of `LanguageModel` and `TextClassifier` (lesson 04).
    """

    def __init__(self, n_in, n_out, weight_p=0.5):
        super().__init__()
        self.lstm = nn.LSTM(n_in, n_out, batch_first=True)
        self.weight_p = weight_p

    def forward(self, x, h=None):
        if not (self.training and self.weight_p > 0):
            return self.lstm(x, h)
        w = F.dropout(self.lstm.weight_hh_l0, self.weight_p, training=True)
        with warnings.catch_warnings():      # cuDNN: the copy is not in one block of memory
            warnings.filterwarnings('ignore', message='RNN module weights are not part')
            return functional_call(self.lstm, {'weight_hh_l0': w}, (x, h))


class AWDLSTM(nn.Module):
    """The encoder: embedding -> `n_layers` LSTM layers, with AWD-LSTM's four dropouts.

    The last layer has `emb_size` units, so a decoder can share the embedding's weights.
    It is stateful like lesson 06's `CharRNN`: the hidden state carries over to the next
    batch, detached; `reset()` forgets it. With `stateful=False` (the classifier) every
    batch starts from zeros. Returns the last layer's outputs, bs x seq x emb_size.

    Args:
        embed_p: share of words dropped from the embedding; input_p: dropout on the
        embeddings; hidden_p: between LSTM layers; weight_p: on hidden-to-hidden weights.

    Used by `LanguageModel` and `TextClassifier` (lesson 04).
    """

    def __init__(self, vocab_size, emb_size=400, n_hid=1150, n_layers=3, pad_idx=1,
                 embed_p=0.1, input_p=0.6, hidden_p=0.3, weight_p=0.5):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, emb_size=emb_size, n_hid=n_hid,
                           n_layers=n_layers, pad_idx=pad_idx)
        self.emb = nn.Embedding(vocab_size, emb_size, padding_idx=pad_idx)
        sizes = [emb_size] + [n_hid] * (n_layers - 1) + [emb_size]
        self.rnns = nn.ModuleList(WeightDropLSTM(sizes[i], sizes[i + 1], weight_p)
                                  for i in range(n_layers))
        self.input_dp = LockedDropout(input_p)
        self.hidden_dps = nn.ModuleList(LockedDropout(hidden_p) for _ in range(n_layers - 1))
        self.embed_p, self.hidden = embed_p, None

    def reset(self):
        """Forget the hidden state: the next batch starts from zeros."""
        self.hidden = None

    def forward(self, x, stateful=True):
        out = self.input_dp(embedding_dropout(self.emb, x, self.embed_p, self.training))
        carry = stateful and self.hidden is not None and self.hidden[0][0].shape[1] == len(x)
        hidden, new = self.hidden if carry else [None] * len(self.rnns), []
        for i, rnn in enumerate(self.rnns):
            out, h = rnn(out, hidden[i])
            new.append(tuple(t.detach() for t in h))
            if i < len(self.hidden_dps):
                out = self.hidden_dps[i](out)
        self.hidden = new if stateful else None
        return out


class LanguageModel(nn.Module):
    """AWD-LSTM language model: the encoder, dropout, and a decoder tied to the embedding.

    Returns a score for every token of the vocabulary at every position (bs x seq x vocab).
    `drop_mult` scales all five dropouts at once (2018 defaults: output 0.1, hidden 0.15,
    input 0.25, embedding 0.02, weights 0.2, times 0.7).

    >>> LanguageModel(30, emb_size=8, n_hid=16)(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 30])

    Used in lesson 04.
    """

    def __init__(self, vocab_size, emb_size=400, n_hid=1150, n_layers=3, pad_idx=1,
                 output_p=0.1, hidden_p=0.15, input_p=0.25, embed_p=0.02, weight_p=0.2,
                 drop_mult=0.7, tie_weights=True):
        super().__init__()
        d = drop_mult
        self.encoder = AWDLSTM(vocab_size, emb_size, n_hid, n_layers, pad_idx, embed_p * d,
                               input_p * d, hidden_p * d, weight_p * d)
        self.output_dp = LockedDropout(output_p * d)
        self.decoder = nn.Linear(emb_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.encoder.emb.weight

    def reset(self):
        """Forget the hidden state (done by `rnn.ResetState` before each epoch and validation)."""
        self.encoder.reset()

    def forward(self, x):
        raw = self.encoder(x)
        dropped = self.output_dp(raw)
        self.last_outputs = raw, dropped          # for `ActivationPenalty`
        return self.decoder(dropped)

    def layer_groups(self):
        """Embedding, each LSTM layer, decoder: one learning rate each."""
        return [self.encoder.emb, *self.encoder.rnns, self.decoder]


class ActivationPenalty:
    """A callback that adds AWD-LSTM's two activation penalties to the training loss.

    AR, `alpha` * mean square of the last layer's (dropped-out) outputs, keeps them small;
    TAR, `beta` * mean square of their change from one token to the next, keeps them
    slowly changing. The 2018 lesson used alpha=2, beta=1 (`seq2seq_reg`).

    >>> learn = rnn_learner(dls, lm, cbs=[ActivationPenalty(2, 1)])   # doctest: +SKIP

    Used in lesson 04.
    """

    def __init__(self, alpha=2.0, beta=1.0):
        self.alpha, self.beta = alpha, beta

    def after_loss(self, learn):
        """Add both penalties to `learn.loss` (called on training batches only)."""
        raw, dropped = learn.model.last_outputs
        ar = dropped.float().pow(2).mean()
        tar = (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
        learn.loss = learn.loss + self.alpha * ar + self.beta * tar


def concat_pool(out, lengths):
    """Concat pooling: [last state, max over time, mean over time] of each row, pads ignored.

    `out` is bs x seq x n (rows padded at the end), `lengths` the real length of each
    row; returns bs x 3n.

    >>> concat_pool(torch.tensor([[[1.], [3.], [0.]]]), torch.tensor([2])).tolist()
    [[3.0, 3.0, 2.0]]

    Used in lesson 04.
    """
    mask = (torch.arange(out.shape[1], device=out.device)[None] < lengths[:, None])[..., None]
    last = out[torch.arange(len(out), device=out.device), lengths - 1]
    biggest = out.masked_fill(~mask, float('-inf')).max(dim=1).values
    mean = (out * mask).sum(dim=1) / lengths[:, None]
    return torch.cat([last, biggest, mean], dim=1)


class TextClassifier(nn.Module):
    """The encoder, concat pooling over each review, and a small head: scores per class.

    Input: bs x seq token numbers, padded at the end with `pad_idx`. The LSTMs read left
    to right, so a review's outputs never depend on the padding after it: pooling only
    its own positions gives the same result as reading it alone (no need for
    `pack_padded_sequence`, whose backward pass is very slow on a CPU). The head is
    BatchNorm, dropout `head_p`, a linear layer of `n_head` units, ReLU, BatchNorm,
    dropout 0.1, linear to `n_classes`. `drop_mult` scales every dropout (2018: 0.5).

    >>> TextClassifier(30, 2, emb_size=8, n_hid=16)(torch.tensor([[2, 7, 1], [2, 5, 9]])).shape
    torch.Size([2, 2])

    Used in lesson 04.
    """

    def __init__(self, vocab_size, n_classes, emb_size=400, n_hid=1150, n_layers=3, pad_idx=1,
                 n_head=50, head_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5,
                 drop_mult=0.5):
        super().__init__()
        d, n_in = drop_mult, 3 * emb_size
        self.pad_idx = pad_idx
        self.encoder = AWDLSTM(vocab_size, emb_size, n_hid, n_layers, pad_idx, embed_p * d,
                               input_p * d, hidden_p * d, weight_p * d)
        self.head = nn.Sequential(nn.BatchNorm1d(n_in), nn.Dropout(head_p * d),
                                  nn.Linear(n_in, n_head), nn.ReLU(), nn.BatchNorm1d(n_head),
                                  nn.Dropout(0.1 * d), nn.Linear(n_head, n_classes))

    def forward(self, x):
        lengths = (x != self.pad_idx).sum(dim=1).clamp(min=1)
        return self.head(concat_pool(self.encoder(x, stateful=False), lengths))

    def reset(self):
        """Nothing to forget: each batch of reviews starts from zeros."""
        self.encoder.reset()

    def layer_groups(self):
        """Embedding, each LSTM layer, head: for gradual unfreezing with `freeze_to`."""
        return [self.encoder.emb, *self.encoder.rnns, self.head]


def encoder_features(model, dl):
    """What a `TextClassifier`'s head reads: the concat-pooled encoder outputs of every review
    of `dl` (a `SortedTextLoader` that does not shuffle), computed once with the encoder in
    eval mode (no dropout) and no gradients.

    Returns (features, order): an N x 3*emb_size float tensor on the CPU whose row k is
    review `order[k]` of `dl`'s dataset (the loader batches by length). Under
    `COURSE_MAX_BATCHES`, the first batches only.

    >>> X, order = encoder_features(clas, SortedTextLoader(docs, labels, bs=64))  # doctest: +SKIP

    Used in lesson 04.
    """
    if getattr(dl, 'shuffle', False):
        raise ValueError('This loader shuffles, so the rows would not match its `order`: build '
                         'a SortedTextLoader without shuffle=True for the features.')
    device = next(model.parameters()).device
    model.eval()
    rows = []
    with torch.no_grad():
        for x, _ in loop_batches(dl, 'precompute'):                  # COURSE_MAX_BATCHES
            x = x.to(device)
            lengths = (x != model.pad_idx).sum(dim=1).clamp(min=1)
            with autocast(device):
                out = model.encoder(x, stateful=False)
            rows.append(concat_pool(out.float(), lengths).cpu())
    features = torch.cat(rows) if rows else torch.empty(0, 3 * model.encoder.emb.embedding_dim)
    return features, dl.order[:len(features)].clone()


def _encoder_files(file):
    file = Path(file)
    return file.with_suffix('.pth'), file.with_suffix('.json')


def save_encoder(model, vocab, file):
    """Save `model.encoder`'s weights to `file.pth` and its vocabulary and sizes to `file.json`.

    A state dict (read back with `weights_only=True`) and plain JSON: no pickled code.
    Returns the two paths.

    >>> save_encoder(learn.model, dls.vocab, learn.path / 'imdb_enc')   # doctest: +SKIP

    Used in lesson 04.
    """
    weights, meta = _encoder_files(file)
    n_rows = model.encoder.emb.num_embeddings
    if n_rows != len(vocab):
        raise ValueError(f'The encoder has {n_rows} embedding rows but the vocabulary '
                         f'{len(vocab)} tokens: save it with the vocabulary it was trained with.')
    if is_main():                          # under torchrun, rank 0 writes; all wait for it
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.encoder.state_dict(), weights)
        meta.write_text(json.dumps({'format': 'coursehelpers-encoder-1',
                                    'config': model.encoder.config, 'itos': vocab.itos}))
    barrier()
    return weights, meta


def load_encoder(model, file, vocab=None):
    """Load an encoder saved by `save_encoder` into `model.encoder`; return the model.

    Refuses, saying what to do, an encoder trained on another vocabulary than the model's
    embedding (or than `vocab`, when given): its token numbers would mean other words.

    Used in lesson 04.
    """
    weights, meta_file = _encoder_files(file)
    if not weights.is_file() or not meta_file.is_file():
        folder = weights.parent
        found = sorted(p.stem for p in folder.glob('*.json')) if folder.is_dir() else []
        raise FileNotFoundError(f'No saved encoder at {weights} and {meta_file} (encoders there: '
                                f'{found or "none"}). Save one first with '
                                'save_encoder(model, vocab, file).')
    _check_vocab(json.loads(meta_file.read_text())['itos'], model, vocab, weights, meta_file)
    state = load_tensors(weights, next(model.parameters()).device)
    check_same_architecture(weights, state, model.encoder)
    model.encoder.load_state_dict(state)
    return model


def _check_vocab(itos, model, vocab, weights, meta_file):
    """Raise when the saved vocabulary `itos` is not the one of `model` (and of `vocab`)."""
    fix = ('Build the classifier data and model with the saved vocabulary: '
           f'vocab = Vocab.load({str(meta_file)!r}).')
    sizes = [('this model is built for', model.encoder.emb.num_embeddings)]
    sizes += [('the vocabulary you passed has', len(vocab))] if vocab is not None else []
    for who, n in sizes:
        if n != len(itos):
            raise ValueError(f'The encoder in {weights} was trained with a vocabulary of '
                             f'{len(itos)} tokens, but {who} {n} tokens. {fix}')
    if vocab is not None and vocab.itos != itos:
        i = next(i for i, (a, b) in enumerate(zip(vocab.itos, itos)) if a != b)
        raise ValueError(f'The encoder in {weights} and your vocabulary both have {len(itos)} '
                         f'tokens but differ (token {i}: {itos[i]!r} saved, {vocab.itos[i]!r} '
                         f'yours). {fix}')


def lm_perplexity(model, dl):
    """Perplexity of a language model over every target token of `dl`: exp(mean cross-entropy).

    The average number of equally likely tokens the model hesitates between; a model that
    guesses uniformly among V tokens scores V. The model's state is reset before and after.

    Used in lesson 04.
    """
    device = next(model.parameters()).device
    model.eval()
    model.reset()
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in loop_batches(dl, 'valid'):                        # COURSE_MAX_BATCHES
            with autocast(device):
                out = model(x.to(device))
            total += F.cross_entropy(out.float().flatten(0, 1), y.to(device).flatten(),
                                     reduction='sum').item()
            count += y.numel()
    model.reset()
    return math.exp(total / count)


def generate_text(model, vocab, prompt, n_words=50, temperature=1.0, no_unk=True):
    """Continue `prompt` by `n_words` tokens sampled from a language model; readable text.

    Each token is drawn from softmax(scores / temperature) (lower: safer, more repetitive);
    with `no_unk`, never `xxunk` or `xxpad`. Uses torch's global random generator, so
    `torch.manual_seed(s)` first gives the same text again.

    >>> generate_text(learn.model, vocab, 'This movie was', 40, temperature=0.8)  # doctest: +SKIP

    Used in lesson 04.
    """
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, not {temperature}.')
    device, tokens = next(model.parameters()).device, tokenize(prompt)
    x, banned = vocab.numericalize(tokens)[None].to(device), [vocab.stoi[UNK], vocab.stoi[PAD]]
    model.eval()
    model.reset()
    with torch.no_grad():
        for _ in range(n_words):
            scores = model(x)[0, -1].float() / temperature
            if no_unk:
                scores[banned] = float('-inf')
            x = torch.multinomial(F.softmax(scores, dim=-1), 1)[None]
            tokens.append(vocab.itos[int(x)])
    model.reset()
    return detokenize(t if t != BOS else '\n' for t in tokens[1:])   # a new review: a new line
