"""Characters, BPTT loaders, stateful RNNs and generation (lesson 06)."""
import pytest
import torch

from coursehelpers.training.loaders import BPTTLoader
from coursehelpers.text.char_rnn import (CharDataLoaders, CharRNN, CharVocab, generate, rnn_learner,
                                         seq_cross_entropy)



pytestmark = pytest.mark.usefixtures('one_thread')


TEXT = 'the quick brown fox jumps over the lazy dog. ' * 40


def test_vocab_round_trip_and_unknown():
    v = CharVocab('banana!')
    assert v.itos == ['!', 'a', 'b', 'n']
    assert v.decode(v.encode('nab!')) == 'nab!'
    with pytest.raises(KeyError, match=r"\['z'\]"):
        v.encode('zab')


@pytest.mark.parametrize('n,bs,bptt', [(101, 4, 7), (50, 3, 5), (64, 1, 64)])
def test_bptt_covers_stream_without_overlap(n, bs, bptt):
    stream = torch.arange(n)
    dl = BPTTLoader(stream, bs, bptt)
    batches = list(dl)
    assert len(batches) == len(dl)
    xs = torch.cat([x for x, _ in batches], dim=1)          # bs rows, read left to right
    ys = torch.cat([y for _, y in batches], dim=1)
    assert torch.equal(xs.flatten(), stream[:xs.numel()])   # every char once, in order
    assert torch.equal(ys.flatten(), stream[1:xs.numel() + 1])
    assert n - 1 - xs.numel() < bs                           # only leftovers are dropped
    assert all(x.shape[1] <= bptt for x, _ in batches)


def test_bptt_rejects_too_short():
    with pytest.raises(ValueError, match='smaller batch size'):
        BPTTLoader(torch.arange(3), bs=4)


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_hidden_state_carried_and_detached(cell):
    torch.manual_seed(0)
    m = CharRNN(10, n_emb=4, n_hidden=6, cell=cell)
    x = torch.randint(0, 10, (3, 5))
    first = m(x)
    h = m.h[0] if isinstance(m.h, tuple) else m.h
    assert not h.requires_grad and h.grad_fn is None
    second = m(x)                                  # same input, carried state: other output
    assert not torch.allclose(first, second)
    seq_cross_entropy(second, x).backward()        # would fail if the graph reached batch 1
    m.reset()
    assert torch.allclose(m(x), first)
    assert m(x[:2]).shape == (2, 5, 10)            # another batch size starts from zeros


def test_learner_trains_and_generation_is_deterministic(tmp_path):
    torch.manual_seed(0)
    dls = CharDataLoaders.from_text(TEXT, valid_pct=0.1, bs=8, bptt=10)
    assert ''.join(dls.vocab.itos) == ''.join(sorted(set(TEXT)))
    learn = rnn_learner(dls, CharRNN(len(dls.vocab), 8, 32, cell='gru'), path=tmp_path,
                        progress=False)
    learn.fit_one_cycle(3, 1e-2)
    losses = learn.history['valid_loss']
    assert losses.iloc[-1] < losses.iloc[0]
    torch.manual_seed(1)
    a = generate(learn.model, dls.vocab, 'the ', 60, temperature=0.8)
    torch.manual_seed(1)
    b = generate(learn.model, dls.vocab, 'the ', 60, temperature=0.8)
    assert a == b and a.startswith('the ') and len(a) == 64
    assert set(a) <= set(dls.vocab.itos)
    with pytest.raises(ValueError, match='temperature'):
        generate(learn.model, dls.vocab, 'the', 5, temperature=0)


def test_real_nietzsche_split(shared_data):
    text = (shared_data / 'nietzsche' / 'nietzsche.txt').read_text()
    dls = CharDataLoaders.from_text(text, valid_pct=0.1, bs=64, bptt=70)
    assert len(dls.vocab) > 80
    n_valid = len(text) - int(len(text) * 0.9)
    assert len(dls.valid.dataset) == n_valid
