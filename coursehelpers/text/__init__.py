"""Text (lessons 04 and 06), in one import: `from coursehelpers.text import *`.

- `data.py`: reading IMDB, tokens and the vocabulary, the classifier's sorted loaders;
- `models.py`: the AWD-LSTM language model, the classifier on its encoder, perplexity;
- `char_rnn.py`: lesson 06's characters, `CharRNN`, `rnn_learner`, `generate`.
`BPTTLoader` (from `training/loaders.py`) comes with them: both lessons read text with it.
"""
from ..training.loaders import BPTTLoader
from . import char_rnn as _char_rnn
from . import data as _data
from . import models as _models
from .char_rnn import *
from .data import *
from .models import *

__all__ = [*_data.__all__, *_models.__all__, *_char_rnn.__all__, 'BPTTLoader']
