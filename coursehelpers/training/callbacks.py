"""The training loop's events and errors: callbacks, cancelling, a GPU out of memory.

A callback is a plain object the Learner calls at fixed points of training: any object
with one or more methods named after an event in `EVENTS`, each receiving the learner.
No base class is needed:

>>> class PrintLoss:
...     def after_epoch(self, learn):
...         print(learn.history.iloc[-1]['train_loss'])
>>> # learn.fit(1e-3, 2, cbs=[PrintLoss()])

During a batch the learner holds `learn.xb`, `learn.yb`, `learn.out` (model outputs)
and `learn.loss`; `after_loss` may replace `learn.loss` (for example to add a penalty).
Raise `CancelFit` to end training early and cleanly.
"""
import contextlib

import torch

__all__ = ['EVENTS', 'CancelFit', 'CallbackError', 'KeepBNStats', 'run_event',
           'show_training_loop', 'explain_oom']

EVENTS = ('before_fit', 'before_epoch', 'before_batch', 'after_loss', 'after_batch',
          'before_validate', 'after_validate', 'after_epoch', 'after_fit')

TRAINING_LOOP = """\
before_fit
for each epoch:
    before_epoch
    for each mini-batch:   (model.train())
        before_batch
        forward, loss
        after_loss
        backward, step, zero_grad
        after_batch
    before_validate        (model.eval(), torch.no_grad())
    forward over the validation set, loss, metrics
    after_validate
    print one row of the table
    after_epoch
after_fit"""


class CancelFit(Exception):
    """Raise from a callback to stop `fit` early; `after_fit` still runs."""


class CallbackError(RuntimeError):
    """An exception raised inside a callback, re-raised naming the callback and the event."""


class KeepBNStats:
    """Keep the pretrained BatchNorm statistics while the body trains (all groups but the last).

    In training mode a BatchNorm layer normalises with the statistics of the current
    mini-batch and blends them into its stored ones, which the validation and every later
    prediction use. With small batches (16 photos on a laptop) those estimates are noisy,
    and a single unfrozen epoch can replace most of the ImageNet statistics with them:
    accuracy drops right after `unfreeze()`. This callback puts the BatchNorm layers in
    eval mode at the start of every epoch: they normalise with the stored statistics and
    leave them alone, while their scale and shift (and every other weight) still train.

    >>> learn = cnn_learner(dls, 'efficientnet_lite0', cbs=[KeepBNStats()])   # doctest: +SKIP

    Used in lessons 01 and 07.
    """

    def before_epoch(self, learn):
        for group in learn.layer_groups[:-1]:           # not the new head: it has no statistics yet
            for module in group.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()


def run_event(cbs, event, learn):
    """Call `event` on every callback that has it, in order, passing the learner.

    Errors are re-raised as `CallbackError` naming the callback class and the event
    (the original error is chained below it); `CancelFit` passes through untouched.

    Used by the Learner.
    """
    for cb in cbs:
        method = getattr(cb, event, None)
        if method is None:
            continue
        try:
            method(learn)
        except CancelFit:
            raise
        except Exception as e:
            raise CallbackError(f'The callback {type(cb).__name__} failed in {event}: '
                                f'{type(e).__name__}: {e}') from e


def show_training_loop():
    """Print where each event happens in `Learner.fit`.

    >>> show_training_loop()                  # doctest: +ELLIPSIS
    before_fit
    ...
    after_fit
    """
    print(TRAINING_LOOP)


@contextlib.contextmanager
def explain_oom(loader):
    """Re-raise a GPU out-of-memory error with the batch size to try instead.

    Used by `Learner.fit` and `Learner.lr_find`.
    """
    try:
        yield
    except torch.cuda.OutOfMemoryError as e:
        bs = getattr(loader, 'batch_size', None)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        used = f'batch size {bs}' if bs else 'this batch size'
        half = f'bs={max(bs // 2, 1)}' if bs else 'half the batch size'
        raise torch.cuda.OutOfMemoryError(
            f'The GPU ran out of memory with {used}. Build the data again with {half} (the bs= '
            'of the function that made your loaders), create the learner again and rerun the '
            'cell; if memory stays full, restart the kernel first.') from e
