"""Words for networks: reading reviews, tokens, a vocabulary, and the loaders of lesson 04.

A review becomes a list of tokens (`tokenize`): words and punctuation, lower case, with a
few special tokens that keep what lower-casing would lose (`xxmaj`: the next word had a
capital; `xxup`: it was in capitals) and mark the start of a text (`xxbos`). A `Vocab`
numbers the frequent tokens; rare ones become `xxunk`. Then two kinds of loaders:

- the language model reads all the text as one long stream, cut into `bs` parallel rows
  and read in windows of `bptt` tokens (`rnn.BPTTLoader`, as in lesson 06);
- the classifier reads whole reviews, batched with reviews of about the same length and
  padded with `xxpad` at the end (`SortedTextLoader`).

>>> tokenize("I didn't LOVE it.<br />Sorry")
['xxbos', 'xxmaj', 'i', 'did', "n't", 'xxup', 'love', 'it', '.', 'xxmaj', 'sorry']

Used in lesson 04.
"""
import html
import json
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from ..env.distributed import barrier, is_main
from ..training.loaders import BPTTLoader, DataLoaders

__all__ = ['UNK', 'PAD', 'BOS', 'MAJ', 'UP', 'SPECIALS', 'read_text', 'read_imdb', 'fix_html',
           'tokenize', 'tokenize_texts', 'detokenize', 'Vocab', 'trim', 'pad_batch',
           'SortedTextLoader', 'TextDataLoaders', 'unigram_perplexity']

UNK, PAD, BOS, MAJ, UP = 'xxunk', 'xxpad', 'xxbos', 'xxmaj', 'xxup'
SPECIALS = [UNK, PAD, BOS, MAJ, UP]           # indices 0 to 4 in every vocabulary
_SPECIAL_SET = frozenset(SPECIALS)

# do|n't, it|'s, words, numbers, and every other visible character on its own
TOKEN_RE = re.compile(r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\w+|[^\w\s]", re.IGNORECASE)
NO_SPACE_BEFORE = frozenset(".,!?;:)%\n") | {"n't"}
BR_RE = re.compile(r'<\s*br\s*/?\s*>', re.IGNORECASE)


def read_text(file):
    """The text of `file`, read as UTF-8; bytes that are not UTF-8 become '\ufffd' (never fails).

    Some aclImdb reviews were saved in other encodings: they are read, not refused.

    Used by `read_imdb` (lesson 04).
    """
    return Path(file).read_bytes().decode('utf-8', errors='replace')


def fix_html(text):
    """Undo the HTML in IMDB reviews: `<br />` becomes a new line, `&amp;` becomes `&`.

    >>> fix_html('Good.<br /><br />Bad &amp; ugly')
    'Good.\\n\\nBad & ugly'

    Used by `tokenize` (lesson 04).
    """
    text = BR_RE.sub('\n', text.replace('\u2019', "'"))
    return html.unescape(text) if '&' in text else text


def _as_str(text):
    """A text as a str: bytes are decoded as UTF-8 with replacement, None and NaN are ''."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode('utf-8', errors='replace')
    if text is None or (isinstance(text, float) and text != text):
        return ''
    raise TypeError(f'tokenize needs a text (str or bytes), not {type(text).__name__} '
                    f'{text!r}: convert it with str() first, or drop it.')


def tokenize(text):
    """Split one text into tokens: `xxbos`, then lower-case words and punctuation.

    A word with a capital first letter gets `xxmaj` before it, a word in capitals (two
    letters or more) `xxup`; "don't" is "do" + "n't", "it's" is "it" + "'s". An empty
    text (or None, NaN) is just `['xxbos']`; bytes are read as UTF-8 with replacement. A
    special token typed in the text itself becomes `xxunk`, so it cannot pose as padding.

    >>> tokenize('The END!!')
    ['xxbos', 'xxmaj', 'the', 'xxup', 'end', '!', '!']

    Used in lesson 04.
    """
    tokens = [BOS]
    for t in TOKEN_RE.findall(fix_html(_as_str(text))):
        if t[0].isupper():
            tokens.append(UP if len(t) > 1 and t.isupper() else MAJ)
        low = t.lower()
        tokens.append(UNK if low in _SPECIAL_SET else low)
    return tokens


def _tokenize_chunk(texts):
    """Tokenize `texts`; equal tokens share one string object (less memory, quicker to send)."""
    same = {}
    return [[same.setdefault(t, t) for t in tokenize(text)] for text in texts]


def tokenize_texts(texts, n_workers=None, chunk=2000):
    """Tokenize many texts, in `n_workers` processes when there are many; a list of lists.

    Tokenizing is plain Python, so one process uses one core; the texts are cut into
    chunks of `chunk` texts that the workers share. Fewer than two chunks, or
    `n_workers=1`, run in this process. Equal tokens of a chunk share one string
    object: 100,000 reviews hold 30 million tokens, but only some 100,000 distinct ones.

    >>> tokenize_texts(['Hi there', ''])
    [['xxbos', 'xxmaj', 'hi', 'there'], ['xxbos']]

    Used in lesson 04 (and in benchmarks/bench_tokenize.py).
    """
    texts = list(texts)
    n_workers = n_workers or min(os.cpu_count() or 1, 8)
    chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    if n_workers == 1 or len(chunks) < 2:
        return _tokenize_chunk(texts)
    with ProcessPoolExecutor(n_workers) as pool:
        return [doc for part in pool.map(_tokenize_chunk, chunks) for doc in part]


def detokenize(tokens):
    """Tokens back to readable text: capitals restored, `xxbos` and `xxpad` dropped, no space
    before punctuation and clitics ("do n't" -> "don't").

    >>> detokenize(['xxbos', 'xxmaj', 'it', 'was', "n't", 'xxup', 'bad', '.'])
    "It wasn't BAD."

    Used in lesson 04.
    """
    text, case = '', None
    for t in tokens:
        if t in (MAJ, UP):
            case = t
        elif t not in (BOS, PAD):
            word = t.capitalize() if case == MAJ else t.upper() if case == UP else t
            glued = t in NO_SPACE_BEFORE or (t.startswith("'") and t != "'")   # 's, 're, ...
            text += word if glued or not text or text.endswith(('(', '\n')) else ' ' + word
            case = None
    return text


class Vocab:
    """The tokens a model knows, and their numbers; the special tokens are 0 to 4.

    >>> v = Vocab.from_tokens([['xxbos', 'a', 'b', 'a'], ['xxbos', 'a', 'c']], min_freq=2)
    >>> v.itos, v.numericalize(['a', 'c']).tolist(), v.textify([5, 0])
    (['xxunk', 'xxpad', 'xxbos', 'xxmaj', 'xxup', 'a'], [5, 0], 'a xxunk')

    Used in lesson 04.
    """

    def __init__(self, itos):
        if list(itos[:len(SPECIALS)]) != SPECIALS or len(set(itos)) != len(itos):
            raise ValueError(f'A vocabulary starts with the special tokens {SPECIALS} and lists '
                             f'every token once; this one starts with {list(itos[:5])}. Build '
                             'it with Vocab.from_tokens(docs).')
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_idx = self.stoi[PAD]

    @classmethod
    def from_tokens(cls, docs, max_size=60_000, min_freq=2):
        """The tokens of `docs` (lists of tokens) seen at least `min_freq` times, most frequent
        first (ties alphabetical), after the specials; at most `max_size` in all."""
        counts = Counter()
        for doc in docs:
            counts.update(doc)
        words = sorted((t for t, c in counts.items() if c >= min_freq and t not in _SPECIAL_SET),
                       key=lambda t: (-counts[t], t))
        return cls(SPECIALS + words[:max(max_size - len(SPECIALS), 0)])

    def __len__(self):
        return len(self.itos)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos

    def numericalize(self, tokens):
        """Tokens -> a LongTensor of their numbers; unknown tokens get 0 (`xxunk`)."""
        return torch.tensor([self.stoi.get(t, 0) for t in tokens], dtype=torch.long)

    def textify(self, ids):
        """Numbers (a tensor or list) -> the tokens joined by spaces."""
        return ' '.join(self.itos[int(i)] for i in ids)

    def save(self, file):
        """Write the vocabulary to `file` as JSON (a list of tokens); return the path.

        Under `torchrun` rank 0 writes and every process waits for it."""
        file = Path(file)
        if is_main():
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps({'format': 'coursehelpers-vocab-1', 'itos': self.itos}))
        barrier()
        return file

    @classmethod
    def load(cls, file):
        """Read a vocabulary written by `save` (or the JSON that `save_encoder` writes)."""
        file = Path(file)
        if not file.is_file():
            raise FileNotFoundError(f'No vocabulary at {file}: save one first with '
                                    'vocab.save(file) or save_encoder(model, vocab, file).')
        meta = json.loads(file.read_text())
        if not isinstance(meta, dict) or 'itos' not in meta:
            raise ValueError(f'{file} is JSON but holds no vocabulary (no "itos" list): pass '
                             'the file written by vocab.save or save_encoder.')
        return cls(meta['itos'])

    def __repr__(self):
        return f'Vocab({len(self)} tokens: {" ".join(self.itos[:8])} ...)'


def read_imdb(path):
    """The reviews under `path` as a DataFrame with columns `text`, `label`, `is_valid`.

    Two layouts: the quick-mode sample (`texts.csv` with label, text, is_valid), or
    aclImdb (`train/{pos,neg,unsup}`, `test/{pos,neg}` of .txt files; the test reviews
    validate, the unlabelled ones get the label 'unsup'). Files are read as UTF-8 with
    replacement and empty texts are kept as ''.

    >>> df = read_imdb(get_data('imdb'))            # doctest: +SKIP

    Used in lesson 04.
    """
    path = Path(path)
    if (path / 'texts.csv').is_file():
        df = pd.read_csv(path / 'texts.csv', encoding_errors='replace')
        missing = {'label', 'text', 'is_valid'} - set(df.columns)
        if missing:
            raise ValueError(f'{path / "texts.csv"} has the columns {list(df.columns)}; it needs '
                             'label, text and is_valid.')
        df['text'] = df['text'].fillna('').astype(str)
        return df[['text', 'label', 'is_valid']].astype({'is_valid': bool})
    if (path / 'train').is_dir() and (path / 'test').is_dir():
        rows = [(read_text(f), label, split == 'test')
                for split, label in [('train', 'neg'), ('train', 'pos'), ('train', 'unsup'),
                                     ('test', 'neg'), ('test', 'pos')]
                for f in sorted((path / split / label).glob('*.txt'))]
        return pd.DataFrame(rows, columns=['text', 'label', 'is_valid'])
    found = sorted(p.name for p in path.iterdir()) if path.is_dir() else 'nothing (no folder)'
    raise FileNotFoundError(f'{path} holds {found}; expected texts.csv (the sample) or the '
                            'aclImdb folders train/{pos,neg,unsup} and test/{pos,neg}. Get it '
                            "with get_data('imdb').")


def trim(ids, max_len):
    """The first token (`xxbos`) and the last `max_len - 1` of a long review; short ones as is.

    >>> trim(torch.arange(10), 4).tolist()
    [0, 7, 8, 9]

    Used by `TextDataLoaders.classifier` (lesson 04; quick mode reads the ends of long reviews).
    """
    if max_len is None or len(ids) <= max_len:
        return ids
    return torch.cat([ids[:1], ids[len(ids) - max_len + 1:]])


def pad_batch(docs, pad_idx=1):
    """Stack sequences of different lengths into one LongTensor, padded with `pad_idx` at the end.

    >>> pad_batch([torch.tensor([5, 6, 7]), torch.tensor([8])]).tolist()
    [[5, 6, 7], [8, 1, 1]]

    Used by `SortedTextLoader` (lesson 04).
    """
    return torch.nn.utils.rnn.pad_sequence(list(docs), batch_first=True, padding_value=pad_idx)


class SortedTextLoader:
    """Batches `(x, y)` of whole reviews, each batch padded to its longest review.

    Reviews of similar length go together, so little of a batch is padding: without
    `shuffle` (validation) by length, longest first, always the same; with `shuffle`
    (training) the reviews are shuffled, sorted by length in chunks of 50 batches, and
    the batches come in random order (the longest batch first, so memory runs out at
    once or not at all). `order` lists the dataset indices in the order they were batched
    (predictions come in that order).

    >>> dl = SortedTextLoader([torch.tensor([2, 9]), torch.tensor([2, 7, 8])], [0, 1], bs=2)
    >>> next(iter(dl))
    (tensor([[2, 7, 8],
            [2, 9, 1]]), tensor([1, 0]))

    Used in lesson 04.
    """

    def __init__(self, docs, labels, bs=64, shuffle=False, pad_idx=1):
        if len(docs) != len(labels):
            raise ValueError(f'{len(docs)} texts but {len(labels)} labels: give one label per '
                             'text.')
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.dataset = list(zip(docs, self.labels))
        self.lengths = torch.tensor([len(d) for d in docs])
        self.batch_size, self.shuffle, self.pad_idx = bs, shuffle, pad_idx
        self.order = self._sorted(torch.arange(len(docs)))

    def _sorted(self, idx):
        return idx[torch.sort(self.lengths[idx], descending=True, stable=True).indices]

    def _batches(self):
        if not self.shuffle:
            return list(self.order.split(self.batch_size))
        perm, size = torch.randperm(len(self.dataset)), self.batch_size * 50
        batches = [batch for chunk in perm.split(size)
                   for batch in self._sorted(chunk).split(self.batch_size)]
        longest = max(range(len(batches)), key=lambda i: int(self.lengths[batches[i]].max()))
        rest = [batches[i] for i in torch.randperm(len(batches)).tolist() if i != longest]
        return [batches[longest]] + rest

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        batches = self._batches()
        self.order = torch.cat(batches) if batches else self.order
        for idx in batches:
            yield pad_batch([self.dataset[i][0] for i in idx], self.pad_idx), self.labels[idx]


class TextDataLoaders(DataLoaders):
    """Loaders for a language model or a text classifier, with the `vocab` they were built with.

    Attributes beyond `DataLoaders`: `vocab`, `classes` (None for a language model).

    Used in lesson 04.
    """

    def __init__(self, train, valid, vocab, classes=None):
        super().__init__(train, valid)
        self.vocab, self.classes = vocab, classes

    @classmethod
    def language_model(cls, train_docs, valid_docs, vocab, bs=64, bptt=70):
        """BPTT loaders over the numericalized documents joined into one stream per split.

        Every document starts with `xxbos`, so the model sees where one review ends and the
        next begins.

        >>> dls = TextDataLoaders.language_model(trn_tok, val_tok, vocab, 64, 70)  # doctest: +SKIP
        """
        train, valid = [torch.cat([vocab.numericalize(d) for d in docs])
                        for docs in (train_docs, valid_docs)]
        return cls(BPTTLoader(train, bs, bptt), BPTTLoader(valid, bs, bptt), vocab)

    @classmethod
    def classifier(cls, train_docs, train_labels, valid_docs, valid_labels, vocab, bs=64,
                   max_len=None):
        """Sorted, padded loaders of labelled documents; labels become class numbers.

        Classes are the sorted distinct training labels; `max_len` keeps only the start
        token and the last `max_len - 1` tokens of longer documents (see `trim`).
        """
        classes = sorted(set(train_labels))
        unknown = sorted(set(valid_labels) - set(classes))
        if unknown:
            raise ValueError(f'The validation labels {unknown} never occur in training '
                             f'(classes: {classes}): check the split.')
        number = {c: i for i, c in enumerate(classes)}
        loaders = [SortedTextLoader([trim(vocab.numericalize(d), max_len) for d in docs],
                                    [number[y] for y in labels], bs, shuffle, vocab.pad_idx)
                   for docs, labels, shuffle in ((train_docs, train_labels, True),
                                                 (valid_docs, valid_labels, False))]
        return cls(*loaders, vocab, classes)


def unigram_perplexity(train_ids, valid_ids, vocab_size):
    """The perplexity on `valid_ids` of a model that ignores context: p(token) = its share
    of `train_ids` (add-one smoothed over `vocab_size` tokens). The bar a language model
    must clear.

    >>> round(unigram_perplexity(torch.tensor([0, 0, 1]), torch.tensor([0, 1]), 2), 3)
    2.041

    Used in lesson 04.
    """
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    log_p = (counts / counts.sum()).log()
    return float(torch.exp(-log_p[valid_ids].mean()))
