"""Characters and recurrent networks: a vocabulary, back-propagation through time, generation.

The text is one long stream of character indices. `BPTTLoader` (in `training/loaders.py`,
shared with lesson 04's language model) cuts it into `bs` parallel
rows and reads them left to right in windows of `bptt` characters, so batch k+1 continues
exactly where batch k stopped, row by row. A stateful `CharRNN` carries its hidden state
from one batch to the next, detached so gradients stop at the window's edge.

>>> dls = CharDataLoaders.from_text(text, bs=64, bptt=70)            # doctest: +SKIP
>>> learn = rnn_learner(dls, CharRNN(len(dls.vocab), cell='lstm'))   # doctest: +SKIP
>>> learn.fit_one_cycle(3, 3e-3)                                     # doctest: +SKIP
>>> generate(learn.model, dls.vocab, 'for those', 400, temperature=0.7)   # doctest: +SKIP

Used in lesson 06; lesson 04's language model trains with `rnn_learner` too.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..training.learner import Learner
from ..training.loaders import BPTTLoader, DataLoaders

__all__ = ['CharVocab', 'CharDataLoaders', 'CharRNN', 'ResetState',
           'seq_cross_entropy', 'rnn_learner', 'generate']


class CharVocab:
    """The characters of a text, sorted, and their indices.

    >>> v = CharVocab('hello')
    >>> v.itos, v.encode('ole').tolist(), v.decode([3, 1])
    (['e', 'h', 'l', 'o'], [3, 2, 0], 'oh')

    Used in lesson 06.
    """

    def __init__(self, text):
        self.itos = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        """A string -> a LongTensor of indices; a character not in the vocabulary raises."""
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise KeyError(f'The characters {unknown[:10]} are not in the vocabulary of '
                           f'{len(self)} characters this model knows: use only those in '
                           '`vocab.itos`.')
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, idx):
        """Indices (a tensor or list) -> a string."""
        return ''.join(self.itos[int(i)] for i in idx)


class CharDataLoaders(DataLoaders):
    """BPTT loaders over a text: the first part trains, the last `valid_pct` validates.

    Attribute beyond `DataLoaders`: `vocab` (a `CharVocab` of the whole text).

    >>> dls = CharDataLoaders.from_text(text, valid_pct=0.1, bs=64, bptt=70)  # doctest: +SKIP

    Used in lesson 06.
    """

    def __init__(self, train, valid, vocab):
        super().__init__(train, valid)
        self.vocab = vocab

    @classmethod
    def from_text(cls, text, valid_pct=0.1, bs=64, bptt=70, valid_bs=None):
        """Split `text` (the last `valid_pct` validates), encode it, build the two loaders."""
        vocab = CharVocab(text)
        stream = vocab.encode(text)
        cut = int(len(stream) * (1 - valid_pct))
        return cls(BPTTLoader(stream[:cut], bs, bptt),
                   BPTTLoader(stream[cut:], valid_bs or bs, bptt), vocab)


def seq_cross_entropy(out, target):
    """Cross-entropy per character of sequence outputs: `out` is bs x seq x vocab.

    Used in lesson 06.
    """
    return F.cross_entropy(out.flatten(0, 1), target.flatten())


class CharRNN(nn.Module):
    """Embedding -> stateful RNN/GRU/LSTM -> a score for every character at every position.

    The hidden state is kept between calls and detached after each one, so history
    flows forward across batches but gradients stop at the batch's edge (truncated BPTT).
    `reset()` zeroes it (done by `ResetState` before each epoch and each validation); a
    batch of another size also starts from zeros.

    >>> m = CharRNN(10, n_emb=4, n_hidden=8, cell='gru')
    >>> m(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 10])

    Used in lesson 06.
    """

    def __init__(self, vocab_size, n_emb=32, n_hidden=256, n_layers=1, cell='lstm', dropout=0.0):
        super().__init__()
        cells = {'rnn': nn.RNN, 'gru': nn.GRU, 'lstm': nn.LSTM}
        if cell not in cells:
            raise ValueError(f"cell must be one of {list(cells)}, not {cell!r}.")
        self.emb = nn.Embedding(vocab_size, n_emb)
        self.rnn = cells[cell](n_emb, n_hidden, n_layers, batch_first=True,
                               dropout=dropout if n_layers > 1 else 0.0)
        self.drop, self.out = nn.Dropout(dropout), nn.Linear(n_hidden, vocab_size)
        self.h = None

    def reset(self):
        """Forget the hidden state: the next batch starts from zeros."""
        self.h = None

    def forward(self, x):
        if self.h is not None and _batch_size(self.h) != x.shape[0]:
            self.h = None
        out, h = self.rnn(self.emb(x), self.h)
        self.h = tuple(t.detach() for t in h) if isinstance(h, tuple) else h.detach()
        return self.out(self.drop(out))


def _batch_size(h):
    return (h[0] if isinstance(h, tuple) else h).shape[1]


class ResetState:
    """A callback that calls `model.reset()` before every epoch and every validation.

    Used by `rnn_learner` (lessons 04 and 06).
    """

    def before_epoch(self, learn):
        learn.model.reset()

    def before_validate(self, learn):
        learn.model.reset()

    def after_validate(self, learn):
        learn.model.reset()


def rnn_learner(dls, model, **kwargs):
    """A Learner for a stateful character model: per-character cross-entropy, `ResetState`.

    Keyword arguments go to the Learner (wd, metrics, ...).

    Used in lessons 04 and 06.
    """
    cbs = [ResetState(), *kwargs.pop('cbs', ())]
    return Learner(model, dls, seq_cross_entropy, cbs=cbs, **kwargs)


def generate(model, vocab, seed, n=400, temperature=1.0):
    """Continue the string `seed` by `n` characters sampled from `model`.

    Each next character is drawn from softmax(scores / temperature): below 1 the text is
    safer and more repetitive, above 1 more surprising. Uses torch's global random
    generator, so `torch.manual_seed(s)` before it gives the same text again. The model's
    hidden state is reset before and after.

    >>> generate(learn.model, dls.vocab, 'for those ', 200, temperature=0.7)  # doctest: +SKIP

    Used in lesson 06.
    """
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, not {temperature}.')
    device = next(model.parameters()).device
    x, out = vocab.encode(seed)[None].to(device), []
    model.eval()
    model.reset()
    with torch.no_grad():
        for _ in range(n):
            scores = model(x)[0, -1].float() / temperature
            nxt = torch.multinomial(F.softmax(scores, dim=-1), 1)
            out.append(int(nxt))
            x = nxt[None]
    model.reset()
    return seed + vocab.decode(out)
