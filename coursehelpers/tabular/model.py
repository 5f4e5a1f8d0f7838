"""The tabular model (lesson 03): an embedding per categorical column, then fully connected
layers; and Rossmann's metric, the root mean squared percentage error.
"""
import numpy as np
import torch
from torch import nn

__all__ = ['TabularModel', 'exp_rmspe', 'rmspe']


class TabularModel(nn.Module):
    """Entity embeddings for categorical columns, batch norm on continuous ones, then an MLP.

    Args:
        emb_szs: (cardinality, width) per categorical column (`TabularProc.emb_sizes()`).
        n_cont: number of continuous columns.
        layers, ps: widths of the hidden layers and their dropout probabilities.
        emb_drop: dropout on the concatenated embeddings.
        y_range: (low, high): the output is `low + (high - low) * sigmoid(x)`.
    Forward: `model(x_cat, x_cont)` -> (batch, n_out).

    >>> model = TabularModel([(1116, 50), (8, 4)], 16, y_range=(0, 1.2 * 10.6))  # doctest: +SKIP

    Used in lesson 03.
    """

    def __init__(self, emb_szs, n_cont, layers=(1000, 500), ps=(0.001, 0.01), emb_drop=0.04,
                 y_range=None, n_out=1):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(c, w) for c, w in emb_szs])
        self.emb_drop = nn.Dropout(emb_drop)
        self.bn_cont = nn.BatchNorm1d(n_cont) if n_cont else nn.Identity()
        sizes, body = [sum(w for _, w in emb_szs) + n_cont, *layers], []
        for n_in, n_hidden, p in zip(sizes[:-1], sizes[1:], ps):
            body += [nn.Linear(n_in, n_hidden), nn.ReLU(), nn.BatchNorm1d(n_hidden), nn.Dropout(p)]
        self.layers = nn.Sequential(*body, nn.Linear(sizes[-1], n_out))
        self.y_range = y_range
        for e in self.embeds:                            # small embeddings train better
            nn.init.uniform_(e.weight, -0.01, 0.01)

    def forward(self, x_cat, x_cont):
        x = [e(x_cat[:, i]) for i, e in enumerate(self.embeds)]
        x = self.emb_drop(torch.cat(x, 1)) if x else x_cont.new_zeros(len(x_cont), 0)
        x = torch.cat([x, self.bn_cont(x_cont)], 1)
        x = self.layers(x)
        if self.y_range is not None:
            low, high = self.y_range
            x = low + (high - low) * torch.sigmoid(x)
        return x


def exp_rmspe(preds, targets):
    """Root mean square percentage error of `exp(preds)` against `exp(targets)` (log targets).

    A Learner metric: `Learner(..., metrics=[exp_rmspe])` when the model predicts log sales.

    >>> exp_rmspe(torch.log(torch.tensor([90.])), torch.log(torch.tensor([100.])))
    0.1...

    Used in lesson 03.
    """
    p, t = torch.exp(preds.float()), torch.exp(targets.float())
    return float(torch.sqrt((((t - p) / t) ** 2).mean()))


def rmspe(y_pred, y_true):
    """Root mean square percentage error of numpy arrays (the Kaggle metric, raw sales).

    >>> round(rmspe(np.array([90.]), np.array([100.])), 3)
    0.1

    Used in lesson 03 (the random forest baseline).
    """
    y_pred, y_true = np.asarray(y_pred, 'float64'), np.asarray(y_true, 'float64')
    return float(np.sqrt(np.mean(((y_true - y_pred) / y_true) ** 2)))
