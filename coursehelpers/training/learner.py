"""The Learner: one training loop for every lesson, and the `DataLoaders` it reads from.

Read `fit`, `one_batch` and `validate` top to bottom: they hold the whole loop (device
moves, `model.train()` / `model.eval()`, `torch.no_grad()`, mixed precision, the
optimizer step). Everything else is a thin method over them.

>>> learn = Learner(model, dls, nn.CrossEntropyLoss(), metrics=[accuracy])  # doctest: +SKIP
>>> learn.fit(1e-2, 3, cycle_len=1)                                         # doctest: +SKIP
epoch train_loss valid_loss   accuracy   time
    0   0.412031   0.221508   0.915000    9.8
...
"""
import functools
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..env.device import autocast, autotune, default_device, grad_scaler
from ..env.distributed import is_main
from ..env.modes import batches_to_run, epochs_to_run, max_batches, max_epochs
from . import distributed, training_log
from .callbacks import CancelFit, explain_oom, run_event
from .checkpoint import load_checkpoint, restore, save_checkpoint, snapshot
from .layer_groups import (find_layer_groups, freeze_groups, frozen_batchnorm_eval, group_lrs,
                           group_parameters)
from .loaders import DataLoaders, check_batch_dim, fixed_batch_shapes, in_order
from .loop_timing import log_fit, loop_batches
from .lr_finder import LRFindResult, SmoothedLoss, end_diverged_sweep, repeat_batches
from .metrics import activation_for, default_loss, metric_name, to_probs
from .schedules import constant, cos_anneal, exp_sweep, one_cycle, sgdr

__all__ = ['Learner']


class Learner:
    """A model, its data, a loss and an optimizer: trains, predicts, saves.

    Args:
        model: an nn.Module, moved to `default_device()`.
        dls: a `DataLoaders` (batches are `(inputs..., targets)`; the model gets the inputs).
        loss_func: e.g. nn.CrossEntropyLoss(); None picks one from `dls` (see `default_loss`).
        metrics: functions `metric(preds, targets) -> float` (see `coursehelpers.metrics`).
        layer_groups: modules, one learning rate each; default `model.layer_groups()` if
            the model has it, else the whole model as one group.
        opt_func, wd: the optimizer class and its weight decay (one param group per layer group).
        path: folder for `save` / `load`.
        cbs: callbacks for every fit (see `coursehelpers.callbacks`).
        pred_activation: outputs -> predictions; default from the loss (see `get_preds`).
        progress: show tqdm progress bars.
    Under `torchrun` it trains with DDP (`training/distributed.py`; `learn.sync_batchnorm`).

    >>> learn = Learner(create_cnn('resnet34', 2), dls, metrics=[accuracy])   # doctest: +SKIP

    Used in lessons 03 to 06 and by `cnn_learner` (lessons 01, 02 and 07).
    """

    def __init__(self, model, dls, loss_func=None, metrics=(), layer_groups=None,
                 opt_func=torch.optim.AdamW, wd=0.01, path='models', cbs=(),
                 pred_activation=None, progress=True):
        self.device = default_device()
        self.model = model.to(self.device)
        self.dls = dls
        self.loss_func = default_loss(dls) if loss_func is None else loss_func
        self.metrics = list(metrics)
        self.layer_groups = find_layer_groups(model, layer_groups)
        self.group_params = group_parameters(model, self.layer_groups)
        self.opt_func, self.wd = opt_func, wd
        self.opt = opt_func([{'params': ps} for ps in self.group_params], lr=1e-3, weight_decay=wd)
        self.scaler = grad_scaler(self.device)
        self.pred_activation = pred_activation or activation_for(self.loss_func)
        self.path, self.cbs, self.progress = Path(path), list(cbs), progress and is_main()
        self.active_cbs, self.ddp, self.sync_batchnorm = self.cbs, None, False  # see distributed
        self.history, self.lrs, self.batch_losses, self.lr_finder = pd.DataFrame(), [], [], None
        self.bar = None                                  # the last loop's progress bar

    def fit(self, lr, n_cycles=1, cycle_len=None, cycle_mult=1, shape=None, cbs=()):
        """Train with SGDR: cosine annealing with warm restarts, printing one row per epoch.

        Cycle i lasts `cycle_len * cycle_mult**i` epochs and restarts at the full `lr`;
        fractions of an epoch are fine when the cycles add up to whole epochs.
        Without `cycle_len` (2018's `learn.fit(lr, n)`): `n_cycles` epochs at a constant `lr`.

        Args:
            lr: one rate, or one per layer group: a list, or slice(lo, hi) (see `group_lrs`).
            n_cycles, cycle_len, cycle_mult: the cycles (see `schedules.sgdr`).
            shape: the rate's shape in each cycle, a function of progress in [0, 1]: default
                `cos_anneal`, `constant` without cycle_len; `fit_one_cycle` passes `one_cycle`.
            cbs: callbacks for this fit only.
        Afterwards: `learn.history` (a DataFrame, one row per epoch of this fit),
        `learn.lrs` and `learn.batch_losses` (one entry per mini-batch).

        >>> learn.fit(1e-2, 3, cycle_len=1, cycle_mult=2)   # 1 + 2 + 4 epochs  # doctest: +SKIP

        Used in lessons 01, 02 and 06.
        """
        dl, lrs = self._train_loader(), self.group_lrs(lr)
        n = batches_to_run(len(dl))                # every batch, or COURSE_MAX_BATCHES
        shape = shape or (cos_anneal if cycle_len else constant)
        mults = sgdr(n_cycles, cycle_len or 1, cycle_mult, n, shape)  # one per mini-batch
        try:
            self._start_fit(cbs)                   # empties the history, fires before_fit
            self.ddp = distributed.wrap_model(self.model, self.ddp, self.sync_batchnorm)
            with explain_oom(dl):
                epochs = len(mults) // n
                for epoch in range(epochs_to_run(epochs)):
                    self.epoch, start, losses = epoch, time.perf_counter(), []
                    distributed.set_epoch(dl, epoch)      # a new order for each epoch
                    self.model.train()
                    frozen_batchnorm_eval(self.layer_groups, self.group_params)  # keep BN stats
                    self._event('before_epoch')
                    with autotune(self.device, fixed_batch_shapes(dl)):   # see env.device
                        for i, batch in enumerate(self._batches(dl, 'train', losses)):
                            self._set_lrs(lrs * mults[epoch * n + i])
                            losses.append(self.one_batch(batch))
                    valid_loss, preds, targets = distributed.distributed_validate(
                        self, keep_preds=bool(self.metrics), kind='epoch_valid')
                    seconds = time.perf_counter() - start
                    self._end_epoch(losses, valid_loss, preds, targets, seconds)
                log_fit(epochs, epochs_to_run(epochs))      # for the projection, if timed
        except CancelFit:
            pass
        finally:
            self._event('after_fit')
            self.active_cbs = self.cbs
            self.xb = self.yb = self.out = self.loss = None     # free the last batch's memory

    def one_batch(self, batch):
        """One training step on `batch` = (inputs..., targets): forward, loss, backward, step.

        Returns:
            the loss, a detached 0-d tensor on the device (reading it with .item() waits
            for the GPU, so `fit` does that once per epoch).
        """
        *xb, yb = [t.to(self.device, non_blocking=True) for t in batch]
        self.xb, self.yb = xb, yb
        self._event('before_batch')
        with autocast(self.device):               # mixed precision on CUDA, nothing on the CPU
            self.out = (self.ddp or self.model)(*self.xb)     # DDP averages the gradients
            self.loss = self.loss_func(self.out, self.yb)
        self._event('after_loss')
        self.scaler.scale(self.loss).backward()   # the scaler only scales for float16
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self._event('after_batch')
        return self.loss.detach()

    def validate(self, dl=None, with_loss=True, keep_preds=True, kind='valid'):
        """Run the model over `dl` (default: the validation set) in eval mode, without gradients.

        Returns:
            (mean loss, predictions, targets); the loss is None without `with_loss`, the
            tensors are None without `keep_preds`. Predictions are activated as in
            `get_preds` and stay on the device.
        """
        dl = self.dls.loader('valid') if dl is None else dl
        self.model.eval()
        self._event('before_validate')
        losses, sizes, preds, targets = [], [], [], []
        with torch.no_grad():
            for batch in self._batches(dl, kind):
                *xb, yb = [t.to(self.device, non_blocking=True) for t in batch]
                with autocast(self.device):
                    out = self.model(*xb)
                    if with_loss:
                        losses.append(self.loss_func(out, yb).float())
                        sizes.append(len(yb))
                if keep_preds:
                    preds.append(self.pred_activation(out.float()))
                    targets.append(yb)
        self._event('after_validate')
        loss = training_log.weighted_mean(losses, sizes) if with_loss else None
        if not keep_preds:
            return loss, None, None
        return loss, torch.cat(preds), torch.cat(targets)

    def fit_one_cycle(self, epochs, lr, pct_start=0.25, div=25.0, div_final=1e5, cbs=()):
        """Train `epochs` epochs as one cycle: warm up to `lr`, then anneal (fastai's one-cycle).

        >>> learn.fit_one_cycle(3, 1e-3)             # doctest: +SKIP

        Used in lessons 03 to 06 and by `Learner.fine_tune` (lesson 07).
        """
        shape = functools.partial(one_cycle, pct_start=pct_start, div=div, div_final=div_final)
        self.fit(lr, 1, cycle_len=epochs, shape=shape, cbs=cbs)

    def fine_tune(self, epochs, base_lr=2e-3, freeze_epochs=1, lr_mult=100):
        """Transfer learning in one call, as fastai's `fine_tune`.

        `freeze_epochs` of one-cycle training with every group but the last frozen, then
        `unfreeze` and `epochs` of one-cycle with rates from `base_lr / 2 / lr_mult` (first
        group) to `base_lr / 2` (last group).

        >>> learn.fine_tune(2, 1e-3)                 # doctest: +SKIP

        Used in lesson 07.
        """
        self.freeze()
        self.fit_one_cycle(freeze_epochs, base_lr)
        self.unfreeze()
        self.fit_one_cycle(epochs, slice(base_lr / 2 / lr_mult, base_lr / 2))

    def group_lrs(self, lr):
        """One learning rate per layer group (see `layer_groups.group_lrs`).

        >>> learn.group_lrs(slice(1e-4, 1e-2))       # doctest: +SKIP
        array([0.0001, 0.001 , 0.01  ])

        Used by `Learner.fit` (differential learning rates).
        """
        return group_lrs(lr, len(self.layer_groups))

    def lr_find(self, start_lr=1e-7, end_lr=10, num_it=100, stop_div=True):
        """Sweep the learning rate to find a good one; the model is left exactly as it was.

        One optimizer step per mini-batch, every group at the same rate, growing
        exponentially from `start_lr` to `end_lr` over `num_it` steps. The loss is smoothed
        (exponential average, beta 0.98, bias-corrected); with `stop_div` the sweep ends, as it
        normally does, when it exceeds 4x its best or is not finite (`end_diverged_sweep`).
        Weights, optimizer state and gradient scaler are copied before and restored after.
        A training set with fewer than `num_it` batches is gone through again (it says so).

        Returns:
            an `LRFindResult` (lrs, losses, suggestion = lr_min / 10), also kept in
            `learn.lr_finder` for `plot_lr_find()`.

        >>> learn.lr_find().suggestion               # doctest: +SKIP

        Used in lessons 01 and 03.
        """
        distributed.one_process_only('lr_find')
        dl = self._train_loader()
        if len(dl) < num_it:
            print(f'lr_find: the training data has {len(dl)} mini-batches, fewer than '
                  f'num_it={num_it}, so it goes through them again to make {num_it} steps.')
        saved, scaler_state = snapshot(self.model, self.opt), self.scaler.state_dict()
        smooth, lrs, losses = SmoothedLoss(beta=0.98), [], []
        self.model.train()
        frozen_batchnorm_eval(self.layer_groups, self.group_params)
        try:
            with explain_oom(dl):
                batches = self._batches(repeat_batches(dl, num_it), 'lr_find', total=num_it)
                for i, batch in enumerate(batches):
                    lrs.append(exp_sweep(i / max(num_it - 1, 1), start_lr, end_lr))
                    for group in self.opt.param_groups:
                        group['lr'] = lrs[-1]
                    losses.append(smooth.add(self.one_batch(batch).item()))
                    diverged = not math.isfinite(losses[-1]) or losses[-1] > 4 * min(losses)
                    if stop_div and diverged:
                        end_diverged_sweep(self.bar, losses, num_it)   # its normal end
                        break
        finally:
            restore(self.model, self.opt, saved)
            self.scaler.load_state_dict(scaler_state)
        self.lr_finder = LRFindResult(lrs, losses)
        return self.lr_finder

    def freeze_to(self, n):
        """Freeze layer groups before `n` (no gradients, BatchNorm statistics kept); train the rest.

        `n` may be negative, counted from the end: `freeze_to(-1)` trains only the last group.

        >>> learn.freeze_to(1)       # body's second half and head train  # doctest: +SKIP

        Used in lesson 04.
        """
        freeze_groups(self.group_params, n)

    def freeze(self):
        """Freeze every layer group but the last (the head): only the head trains.

        Used in lessons 02 and 04, and by `cnn_learner` (lessons 01, 02 and 07).
        """
        self.freeze_to(-1)

    def unfreeze(self):
        """Train every layer group. Used in lessons 01, 02 and 04."""
        self.freeze_to(0)

    def get_preds(self, ds='valid'):
        """Predictions and targets for split `ds` ('valid', 'train' or 'test') in dataset order.

        The one rule (`pred_activation`, chosen from the loss by `metrics.activation_for`
        unless given to the Learner): log-probabilities for CrossEntropyLoss (single-label),
        probabilities for BCEWithLogitsLoss (multi-label), raw outputs otherwise (regression).

        Returns:
            (preds, targets), CPU tensors; for 'test' the targets are the data's placeholders.

        >>> log_preds, y = learn.get_preds()         # doctest: +SKIP
        >>> p_dog = log_preds.exp()[:, 1]            # doctest: +SKIP

        Used in lessons 01 to 04 and 07.
        """
        _, preds, targets = self.validate(in_order(self.dls.loader(ds)), with_loss=False,
                                          kind='predict')
        return preds.cpu(), targets.cpu()

    def predict(self, x):
        """Predictions for one batch `x`: a tensor (first dimension = items) or a tuple of them.

        Returns:
            predictions on the CPU, activated as in `get_preds`, one row per item.

        >>> learn.predict(x[None])      # one image: add the batch dimension  # doctest: +SKIP

        Used in lessons 01 and 06.
        """
        xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
        check_batch_dim(xs[0], self.dls.loader('valid').dataset)
        self.model.eval()
        with torch.no_grad(), autocast(self.device):
            out = self.model(*[t.to(self.device) for t in xs])
        return self.pred_activation(out.float()).cpu()

    def tta(self, n=4, ds='valid'):
        """Test-time augmentation: average the predictions of the original items and of `n`
        augmented passes (`dls.augmented(ds)`), in probability space.

        Returns:
            (probs, targets) on the CPU: PROBABILITIES (exp of the log-probabilities for
            single-label; sigmoid outputs for multi-label; raw outputs averaged otherwise).

        >>> probs, y = learn.tta()                   # doctest: +SKIP
        >>> accuracy(probs, y)                       # doctest: +SKIP

        Used in lessons 01 and 02.
        """
        preds, targets = self.get_preds(ds)
        total = to_probs(preds, self.pred_activation)
        for _ in range(n):
            _, aug, _ = self.validate(in_order(self.dls.augmented(ds)), with_loss=False,
                                      kind='tta')
            total = total + to_probs(aug.cpu(), self.pred_activation)
        return total / (n + 1), targets

    def save(self, name):
        """Save the model and optimizer to `path/name.pth` (see `checkpoint`); return the path.

        >>> learn.save('224_lastlayer')              # doctest: +SKIP

        Used in lessons 01 and 02.
        """
        classes = [str(c) for c in (getattr(self.dls, 'classes', None) or [])]
        return save_checkpoint(self.path / f'{name}.pth', self.model, self.opt,
                               {'classes': classes})

    def load(self, name, with_opt=True):
        """Load `path/name.pth` saved by `save`; refuse one from a different architecture.

        Returns:
            the learner, so `learn.load('stage1').fit(...)` reads naturally.

        Used in lesson 01.
        """
        load_checkpoint(self.path / f'{name}.pth', self.model,
                        self.opt if with_opt else None, self.device)
        return self

    def plot_losses(self):
        """Training loss per batch and per epoch, validation loss per epoch, of the last fit."""
        return training_log.plot_losses(self._fitted_history(), self.batch_losses)

    def plot_metrics(self):
        """Each metric against the epoch, for the last fit; returns the figure."""
        names = [metric_name(m) for m in self.metrics]
        return training_log.plot_metrics(self._fitted_history(), names)

    def plot_lr(self):
        """The last group's learning rate at every iteration of the last fit (SGDR restarts)."""
        self._fitted_history()
        return training_log.plot_lr(self.lrs)

    def plot_lr_find(self):
        """Left: loss against learning rate (log axis, suggestion marked); right: rate per step."""
        if self.lr_finder is None:
            raise ValueError('There is no sweep to plot yet: run learn.lr_find() first.')
        return self.lr_finder.plot()

    # ---- small steps the methods above name ----

    def _event(self, name):
        run_event(self.active_cbs, name, self)

    def _train_loader(self):
        dl = distributed.shard_train(self.dls.loader('train'))    # under torchrun: a share
        if len(dl) == 0:
            raise ValueError(f'The training loader gives no mini-batches ({len(dl.dataset)} '
                             'items): use a smaller batch size, or drop_last=False.')
        return dl

    def _start_fit(self, cbs):
        cap, n_train, epoch_cap = max_batches(), len(self.dls.loader('train')), max_epochs()
        if cap is not None:
            print(f'COURSE_MAX_BATCHES={cap}: each epoch trains on {min(cap, n_train)} of its '
                  f'{n_train} batches and validates on at most {cap} (a rehearsal: the numbers '
                  'mean nothing).')
        if epoch_cap is not None:
            print(f'COURSE_MAX_EPOCHS={epoch_cap}: this fit stops after {epoch_cap} epoch(s) of '
                  'its schedule (a rehearsal).')
        self.active_cbs = self.cbs + list(cbs)
        self.history, self._rows, self.lrs, self.batch_losses = pd.DataFrame(), [], [], []
        self._event('before_fit')

    def _set_lrs(self, lrs):
        """Give each optimizer param group its rate; record the last group's in `learn.lrs`."""
        for group, lr in zip(self.opt.param_groups, lrs):
            group['lr'] = float(lr)
        self.lrs.append(float(lrs[-1]))

    def _batches(self, dl, kind, losses=None, total=None):
        """Iterate `total` (default all) batches of `dl`, at most `COURSE_MAX_BATCHES`, timed as
        a loop of `kind` (see `loop_timing`), under a progress bar (kept in `self.bar`) that
        shows the last loss every 50 batches."""
        if total is None and hasattr(dl, '__len__'):
            total = len(dl)
        n = max_batches() if total is None else batches_to_run(total)
        batches = loop_batches(dl, kind, total, scales_with_data=kind != 'lr_find')
        with tqdm(total=n, leave=False, disable=not self.progress) as self.bar:  # closes it
            for i, batch in enumerate(batches):
                if losses and self.progress and i % 50 == 0:
                    self.bar.set_postfix(loss=f'{losses[-1].item():.4f}', refresh=False)
                yield batch
                self.bar.update()

    def _end_epoch(self, losses, valid_loss, preds, targets, seconds):
        """Record the epoch in `history`, print its row (after a header), fire after_epoch."""
        losses = distributed.average(torch.stack(losses))             # over all processes
        self.batch_losses += losses.float().tolist()     # the epoch's one GPU sync
        train_loss = float(np.mean(self.batch_losses[-len(losses):]))
        row = {'epoch': self.epoch, 'train_loss': train_loss, 'valid_loss': valid_loss}
        row.update({metric_name(m): float(m(preds, targets)) for m in self.metrics})
        row['time'] = seconds
        self._rows.append(row)
        self.history = pd.DataFrame(self._rows)
        training_log.print_epoch(row, header=self.epoch == 0)
        self._event('after_epoch')

    def _fitted_history(self):
        if self.history.empty:
            raise ValueError('Nothing to plot yet: train first, for example learn.fit(1e-3, 1).')
        return self.history
