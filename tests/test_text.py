"""Tokens, vocabulary, loaders, the AWD-LSTM models, encoder transfer, generation (lesson 04)."""
import json
import math

import pandas as pd
import pytest
import torch

from coursehelpers.text.char_rnn import rnn_learner
from coursehelpers.text.data import (BOS, MAJ, PAD, SPECIALS, UNK, UP, SortedTextLoader,
                                     TextDataLoaders, Vocab, detokenize, pad_batch, read_imdb,
                                     read_text, tokenize, tokenize_texts, trim, unigram_perplexity)
from coursehelpers.text.models import (ActivationPenalty, LanguageModel, TextClassifier,
                                       WeightDropLSTM, concat_pool, encoder_features, generate_text,
                                       lm_perplexity, load_encoder, save_encoder)


pytestmark = pytest.mark.usefixtures('one_thread')


DOCS = [tokenize(t) for t in ['The film was great. I loved it!', 'A bad film; the acting was bad.',
                              'Great acting, great story <br />and a GREAT ending.', '']]


# ---- tokenizer ----

def test_special_tokens_and_capitals():
    assert SPECIALS[:2] == [UNK, PAD] and BOS in SPECIALS
    assert tokenize('The END of It') == [BOS, MAJ, 'the', UP, 'end', 'of', MAJ, 'it']
    assert tokenize('I') == [BOS, MAJ, 'i']                 # one capital letter: xxmaj, not xxup
    assert tokenize('iPhone 10') == [BOS, 'iphone', '10']


def test_punctuation_and_contractions_split():
    assert tokenize("Don't stop, it's 10/10!!") == [
        BOS, MAJ, 'do', "n't", 'stop', ',', 'it', "'s", '10', '/', '10', '!', '!']
    assert tokenize("'quoted' (word)") == [BOS, "'", 'quoted', "'", '(', 'word', ')']
    assert tokenize('can\u2019t') == [BOS, 'ca', "n't"]     # a typographic apostrophe too


def test_html_line_breaks_and_entities():
    assert tokenize('Good.<br /><br />Bad &amp; ugly<BR>end') == [
        BOS, MAJ, 'good', '.', MAJ, 'bad', '&', 'ugly', 'end']


def test_special_tokens_typed_in_a_review_cannot_pose_as_padding():
    assert tokenize('xxpad xxbos words') == [BOS, UNK, UNK, 'words']


def test_empty_and_missing_texts_are_just_the_start_token():
    assert tokenize('') == tokenize('   \n ') == tokenize(None) == tokenize(float('nan')) == [BOS]
    with pytest.raises(TypeError, match=r'needs a text \(str or bytes\), not int 5'):
        tokenize(5)


def test_bytes_in_other_encodings_never_fail():
    latin1 = 'Café olé'.encode('latin-1')
    assert tokenize(latin1) == [BOS, MAJ, 'caf', '\ufffd', 'ol', '\ufffd']


def test_detokenize_restores_capitals():
    assert detokenize(tokenize("The END, I said. (Don't!)")) == "The END, I said. (Don't!)"
    assert detokenize([BOS, 'a', '\n', 'b']) == 'a\nb'


def test_parallel_tokenizing_gives_the_same_tokens():
    texts = ['Review number %d is FINE.' % i for i in range(30)] + ['', None]
    assert tokenize_texts(texts, n_workers=2, chunk=7) == [tokenize(t) for t in texts]
    assert tokenize_texts(texts, n_workers=1) == [tokenize(t) for t in texts]


# ---- vocabulary ----

def test_vocab_min_freq_max_size_and_order():
    v = Vocab.from_tokens(DOCS, min_freq=2)
    assert v.itos[:5] == SPECIALS
    # counts: 'great' 4 (any case), '.' 3, then six tokens seen twice in alphabetical order
    assert v.itos[5:] == ['great', '.', 'a', 'acting', 'bad', 'film', 'the', 'was']
    assert len(Vocab.from_tokens(DOCS, min_freq=1)) > len(v)
    assert Vocab.from_tokens(DOCS, min_freq=2, max_size=7).itos == SPECIALS + ['great', '.']
    assert Vocab.from_tokens(DOCS, min_freq=2, max_size=3).itos == SPECIALS   # specials always stay


def test_vocab_round_trip_unknown_and_save_load(tmp_path):
    v = Vocab.from_tokens(DOCS, min_freq=2)
    ids = v.numericalize(DOCS[1])
    assert ids.dtype == torch.long and ids[0] == v.stoi[BOS]
    assert v.textify(ids) == 'xxbos xxmaj a bad film xxunk the acting was bad .'
    assert (ids == 0).sum() == 1                      # ';' is rare: xxunk
    assert v.pad_idx == 1
    again = Vocab.load(v.save(tmp_path / 'sub' / 'vocab.json'))
    assert again == v and again.stoi == v.stoi


def test_vocab_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'No vocabulary at .*missing\.json.*vocab\.save'):
        Vocab.load(tmp_path / 'missing.json')
    (tmp_path / 'other.json').write_text(json.dumps({'tokens': ['a']}))
    with pytest.raises(ValueError, match=r'holds no vocabulary \(no "itos" list\)'):
        Vocab.load(tmp_path / 'other.json')
    with pytest.raises(ValueError, match=r'starts with the special tokens .* Vocab\.from_tokens'):
        Vocab(['the', 'a'])


# ---- language-model batches ----

def test_language_model_batches_shift_by_one_and_lose_nothing():
    v = Vocab.from_tokens(DOCS, min_freq=1)
    docs = DOCS * 5
    dls = TextDataLoaders.language_model(docs, DOCS, v, bs=3, bptt=4)
    stream = torch.cat([v.numericalize(d) for d in docs])
    assert torch.equal(dls.train.dataset, stream) and dls.vocab is v and dls.classes is None
    batches = list(dls.train)
    assert all(x.shape == y.shape and x.shape[0] == 3 and x.shape[1] <= 4 for x, y in batches)
    xs = torch.cat([x for x, _ in batches], dim=1)         # each row, windows side by side
    ys = torch.cat([y for _, y in batches], dim=1)
    assert torch.equal(xs.flatten(), stream[:xs.numel()])  # no token lost between windows
    assert torch.equal(ys.flatten(), stream[1:xs.numel() + 1])
    assert len(stream) - 1 - xs.numel() < 3                # only the leftovers (< bs) are dropped
    assert xs[0, 0] == v.stoi[BOS]


# ---- classifier batches: sorted, padded ----

def test_validation_batches_sorted_by_length_and_padded_at_the_end():
    docs = [torch.tensor([2] + [7] * n) for n in [3, 9, 1, 6, 4]]
    dl = SortedTextLoader(docs, [0, 1, 0, 1, 1], bs=2, pad_idx=1)
    batches = list(dl)
    assert [x.shape for x, _ in batches] == [(2, 10), (2, 5), (1, 2)]
    assert dl.order.tolist() == [1, 3, 4, 0, 2]            # longest first
    x, y = batches[1]
    assert x.tolist() == [[2, 7, 7, 7, 7], [2, 7, 7, 7, 1]] and y.tolist() == [1, 0]
    assert (x[1, 4:] == 1).all()
    assert [x.tolist() for x, _ in dl] == [x.tolist() for x, _ in batches]    # same every time


def test_training_batches_shuffle_but_keep_lengths_together():
    torch.manual_seed(0)
    docs = [torch.full((n,), 5) for n in range(1, 41)]
    dl = SortedTextLoader(docs, [n % 2 for n in range(40)], bs=8, shuffle=True)
    first = [x.shape[1] for x, _ in dl]
    assert first[0] == 40                                  # the longest batch comes first
    assert sorted(dl.order.tolist()) == list(range(40))    # every review once
    assert sum(int((x != 1).sum()) for x, _ in dl) == sum(range(1, 41))
    orders = {tuple(first)} | {tuple(x.shape[1] for x, _ in dl) for _ in range(5)}
    assert len(orders) > 1                                 # batches come in another order


def test_pad_batch_and_trim():
    padded = pad_batch([torch.tensor([4]), torch.tensor([5, 6])], pad_idx=1)
    assert padded.tolist() == [[4, 1], [5, 6]]
    assert trim(torch.arange(10), 4).tolist() == [0, 7, 8, 9]
    assert trim(torch.arange(3), 4).tolist() == [0, 1, 2]


def test_classifier_loaders_number_the_classes():
    v = Vocab.from_tokens(DOCS, min_freq=1)
    dls = TextDataLoaders.classifier(DOCS, ['pos', 'neg', 'pos', 'neg'], DOCS[:2], ['pos', 'neg'],
                                     v, bs=2, max_len=5)
    assert dls.classes == ['neg', 'pos']
    x, y = next(iter(dls.valid))
    assert x.shape[1] == 5 and (x[:, 0] == v.stoi[BOS]).all()
    assert sorted(y.tolist()) == [0, 1]
    with pytest.raises(ValueError, match=r"validation labels \['meh'\] never occur in training"):
        TextDataLoaders.classifier(DOCS, ['pos'] * 4, DOCS[:1], ['meh'], v)
    with pytest.raises(ValueError, match='3 texts but 2 labels'):
        SortedTextLoader(DOCS[:3], [0, 1])


# ---- models ----

def test_concat_pool_ignores_padding():
    out = torch.tensor([[[1.0], [3.0], [2.0]], [[4.0], [-5.0], [99.0]]])
    pooled = concat_pool(out, torch.tensor([3, 2]))
    assert pooled.tolist() == [[2.0, 3.0, 2.0], [-5.0, 4.0, -0.5]]   # last, max, mean


def test_classifier_prediction_does_not_depend_on_padding():
    torch.manual_seed(0)
    model = TextClassifier(30, 2, emb_size=8, n_hid=16).eval()
    alone = model(torch.tensor([[2, 7, 9]]))
    batch = model(pad_batch([torch.tensor([2, 5, 9, 11, 12, 13]), torch.tensor([2, 7, 9])]))
    assert torch.allclose(alone, batch[1:], atol=1e-6)
    assert [len(list(g.parameters())) > 0 for g in model.layer_groups()] == [True] * 5


def test_weight_dropout_keeps_plain_lstm_weights():
    torch.manual_seed(0)
    layer = WeightDropLSTM(3, 4, weight_p=0.5)
    x = torch.randn(2, 5, 3)
    assert list(layer.state_dict()) == ['lstm.' + n for n in layer.lstm.state_dict()]
    assert not torch.allclose(layer(x)[0], layer.lstm(x)[0])      # training: dropped weights
    layer(x)[0].sum().backward()
    assert layer.lstm.weight_hh_l0.grad is not None
    layer.eval()
    assert torch.equal(layer(x)[0], layer.lstm(x)[0])


def test_language_model_ties_weights_and_carries_state():
    torch.manual_seed(0)
    lm = LanguageModel(20, emb_size=6, n_hid=10, n_layers=3).eval()
    assert lm.decoder.weight is lm.encoder.emb.weight
    x = torch.randint(0, 20, (2, 5))
    first, second = lm(x), lm(x)
    assert not torch.allclose(first, second)                      # the state carried over
    lm.reset()
    assert torch.allclose(lm(x), first)


def test_activation_penalty_adds_ar_and_tar():
    lm = LanguageModel(20, emb_size=4, n_hid=6).eval()
    lm(torch.randint(0, 20, (2, 5)))
    raw, dropped = lm.last_outputs
    assert raw.shape == (2, 5, 4) and torch.equal(raw, dropped)       # eval: no dropout

    class Learn:
        model, loss = lm, torch.tensor(1.0)
    ActivationPenalty(alpha=2, beta=1).after_loss(Learn)
    expected = 1 + 2 * raw.pow(2).mean() + (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
    assert torch.allclose(Learn.loss, expected)


def pattern_stream(n=3000, vocab_size=25, seed=0):
    """Each token is usually the one after the previous token (mod 20): easy with context."""
    g = torch.Generator().manual_seed(seed)
    s = [5]
    for _ in range(n):
        noise = torch.rand(1, generator=g) > 0.8
        s.append(5 + (int(torch.randint(0, 20, (1,), generator=g)) if noise else (s[-1] - 4) % 20))
    return torch.tensor(s)


def test_language_model_learns_context_and_beats_unigram(tmp_path):
    from coursehelpers.training.loaders import BPTTLoader, DataLoaders
    torch.manual_seed(0)
    stream = pattern_stream(6000)
    dls = DataLoaders(BPTTLoader(stream[:5000], 16, 20), BPTTLoader(stream[5000:5961], 16, 20))
    learn = rnn_learner(dls, LanguageModel(25, emb_size=16, n_hid=32, drop_mult=0.1),
                        path=tmp_path, progress=False)
    learn.fit_one_cycle(6, 1e-2)
    unigram = unigram_perplexity(dls.train.dataset, dls.valid.y.flatten(), 25)
    assert unigram > 15
    assert lm_perplexity(learn.model, dls.valid) < unigram / 2
    by_hand = math.exp(learn.history['valid_loss'].iloc[-1])      # 3 windows of 20 tokens each
    assert lm_perplexity(learn.model, dls.valid) == pytest.approx(by_hand, rel=1e-4)


def test_unigram_perplexity():
    assert unigram_perplexity(torch.arange(4), torch.arange(4), 4) == pytest.approx(4.0)
    assert unigram_perplexity(torch.tensor([0, 0, 1]), torch.tensor([0, 1]), 2) == pytest.approx(
        1 / math.sqrt(0.6 * 0.4))


# ---- encoder transfer ----

def test_encoder_saved_and_loaded_into_the_classifier(tmp_path):
    torch.manual_seed(0)
    v = Vocab.from_tokens(DOCS, min_freq=1)
    lm = LanguageModel(len(v), emb_size=6, n_hid=10)
    weights, meta = save_encoder(lm, v, tmp_path / 'enc')
    assert weights.name == 'enc.pth' and json.loads(meta.read_text())['itos'] == v.itos
    assert Vocab.load(meta) == v
    clas = TextClassifier(len(v), 2, emb_size=6, n_hid=10)
    assert load_encoder(clas, tmp_path / 'enc', v) is clas
    for name, t in lm.encoder.state_dict().items():
        assert torch.equal(clas.encoder.state_dict()[name], t), name
    assert torch.load(weights, weights_only=True).keys() == lm.encoder.state_dict().keys()


def test_vocab_mismatch_names_both_sizes_and_the_fix(tmp_path):
    v = Vocab.from_tokens(DOCS, min_freq=1)
    save_encoder(LanguageModel(len(v), emb_size=6, n_hid=10), v, tmp_path / 'enc')
    small = Vocab.from_tokens(DOCS, min_freq=2)
    with pytest.raises(ValueError, match=rf'vocabulary of {len(v)} tokens, but this model is built '
                                         rf'for {len(small)} tokens\. .*Vocab\.load\(.*enc\.json'):
        load_encoder(TextClassifier(len(small), 2, emb_size=6, n_hid=10), tmp_path / 'enc', small)
    with pytest.raises(ValueError, match=rf'but the vocabulary you passed has {len(small)} tokens'):
        load_encoder(TextClassifier(len(v), 2, emb_size=6, n_hid=10), tmp_path / 'enc', small)
    shuffled = Vocab(v.itos[:5] + v.itos[:4:-1])
    with pytest.raises(ValueError, match=r'both have \d+ tokens but differ \(token 5: '):
        load_encoder(TextClassifier(len(v), 2, emb_size=6, n_hid=10), tmp_path / 'enc', shuffled)
    with pytest.raises(ValueError, match='different architecture'):
        load_encoder(TextClassifier(len(v), 2, emb_size=8, n_hid=10), tmp_path / 'enc')
    with pytest.raises(FileNotFoundError, match=r"No saved encoder .*encoders there: \['enc'\]"):
        load_encoder(TextClassifier(len(v), 2, emb_size=6, n_hid=10), tmp_path / 'other')
    with pytest.raises(ValueError, match=r'6 embedding rows but the vocabulary \d+ tokens'):
        save_encoder(LanguageModel(6, emb_size=6, n_hid=10), v, tmp_path / 'bad')


# ---- generation ----

def test_generation_is_deterministic_under_a_seed():
    v = Vocab.from_tokens(DOCS, min_freq=1)
    torch.manual_seed(0)
    lm = LanguageModel(len(v), emb_size=6, n_hid=10)
    torch.manual_seed(3)
    a = generate_text(lm, v, 'The film', 30, temperature=0.8)
    torch.manual_seed(3)
    b = generate_text(lm, v, 'The film', 30, temperature=0.8)
    assert a == b and a.startswith('The film')
    assert UNK not in a and PAD not in a
    torch.manual_seed(4)
    assert generate_text(lm, v, 'The film', 30, temperature=0.8) != a
    with pytest.raises(ValueError, match='temperature must be > 0'):
        generate_text(lm, v, 'The film', 5, temperature=0)


# ---- reading reviews ----

def test_read_aclimdb_with_empty_and_non_utf8_files(tmp_path):
    for split, label in [('train', 'neg'), ('train', 'pos'), ('train', 'unsup'),
                         ('test', 'neg'), ('test', 'pos')]:
        (tmp_path / split / label).mkdir(parents=True)
        (tmp_path / split / label / '0_1.txt').write_text(f'A {label} review.')
    (tmp_path / 'train' / 'pos' / '1_9.txt').write_bytes('Très bien!'.encode('latin-1'))
    (tmp_path / 'test' / 'neg' / '1_2.txt').write_bytes(b'')
    df = read_imdb(tmp_path)
    assert list(df.columns) == ['text', 'label', 'is_valid'] and len(df) == 7
    assert df.label.tolist().count('unsup') == 1 and df.is_valid.sum() == 3
    assert 'Tr\ufffds bien!' in df.text.tolist() and '' in df.text.tolist()
    assert read_text(tmp_path / 'train' / 'pos' / '1_9.txt') == 'Tr\ufffds bien!'
    assert all(toks[0] == BOS for toks in tokenize_texts(df.text))


def test_read_sample_csv_with_empty_text_and_bad_columns(tmp_path):
    (tmp_path / 'texts.csv').write_bytes(b'label,text,is_valid\npositive,,False\n'
                                         b'negative,"Caf\xe9 was bad",True\n')
    df = read_imdb(tmp_path)
    assert df.text.tolist() == ['', 'Caf\ufffd was bad'] and df.is_valid.tolist() == [False, True]
    pd.DataFrame({'label': ['a'], 'review': ['x']}).to_csv(tmp_path / 'texts.csv', index=False)
    with pytest.raises(ValueError, match=r"columns \['label', 'review'\]; it needs label, text"):
        read_imdb(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"expected texts\.csv .* get_data\('imdb'\)"):
        read_imdb(tmp_path / 'nowhere')


def test_real_sample_reads_and_tokenizes(shared_data):
    df = read_imdb(shared_data / 'imdb_sample')
    assert len(df) == 1000 and df.is_valid.sum() == 200
    assert set(df.label) == {'negative', 'positive'}
    toks = tokenize_texts(df.text[:50], n_workers=1)
    assert all(t[0] == BOS for t in toks) and not any('<br' in ' '.join(t) for t in toks)


def test_encoder_features_are_what_the_head_reads_one_row_per_review(monkeypatch):
    monkeypatch.delenv('COURSE_MAX_BATCHES', raising=False)
    torch.manual_seed(0)
    docs = [torch.tensor([2, 7, 8, 9]), torch.tensor([2, 5]), torch.tensor([2, 6, 7, 8, 5, 9]),
            torch.tensor([2, 9, 9])]
    clas = TextClassifier(12, 2, emb_size=4, n_hid=6, n_layers=2, pad_idx=1)
    X, order = encoder_features(clas, SortedTextLoader(docs, [0, 1, 1, 0], bs=3, pad_idx=1))
    assert X.shape == (4, 12) and sorted(order.tolist()) == [0, 1, 2, 3]
    assert order.tolist() == [2, 0, 3, 1]                   # the loader batches longest first
    clas.eval()
    with torch.no_grad():
        for row, i in zip(X, order.tolist()):               # each review alone, no padding
            alone = concat_pool(clas.encoder(docs[i][None], stateful=False),
                                torch.tensor([len(docs[i])]))[0]
            assert torch.allclose(row, alone, atol=1e-5)
        assert torch.allclose(clas.head(X), clas(pad_batch([docs[i] for i in order.tolist()], 1)), atol=1e-5)
    with pytest.raises(ValueError, match='shuffles'):
        encoder_features(clas, SortedTextLoader(docs, [0, 1, 1, 0], bs=3, shuffle=True))
    monkeypatch.setenv('COURSE_MAX_BATCHES', '1')           # a rehearsal: the first batch only
    X, order = encoder_features(clas, SortedTextLoader(docs, [0, 1, 1, 0], bs=3, pad_idx=1))
    assert X.shape == (3, 12) and order.tolist() == [2, 0, 3]
