"""Lesson 01's full recipe as a script: a pretrained CNN tells dogs from cats.

The head first trains on precomputed activations, then with augmentation on the frozen
body, then every layer trains with differential learning rates (SGDR, cycle_mult=2);
accuracy is measured with and without test-time augmentation. `--epochs` is the number
of cycles of each stage.

    python scripts/train_dogscats.py
    torchrun --nproc_per_node=4 scripts/train_dogscats.py --mode full --bs 64
"""
import numpy as np

from common import finish, options
from coursehelpers import accuracy, get_data, per_mode, seed_everything
from coursehelpers.vision import (ImageDataLoaders, KeepBNStats, cnn_learner, model_stats,
                                  precomputed, side_on_tfms)


def main():
    args = options(__doc__, epochs=(1, 3), bs=(16, 64), lr=1e-3, sync_bn=True)
    seed_everything(42)
    path = get_data('dogscats')
    arch, size = per_mode(quick='efficientnet_lite0', full='resnet34'), 224
    stats = model_stats(arch)
    plain = ImageDataLoaders.from_folder(path, size=size, bs=args.bs, tfms=None, stats=stats)
    learn = cnn_learner(plain, arch, metrics=[accuracy])
    precomputed(learn).fit(args.lr, args.epochs)               # the head, on cached activations
    learn.dls = ImageDataLoaders.from_folder(path, size=size, bs=args.bs, tfms=side_on_tfms,
                                             stats=stats)
    learn.fit(args.lr, args.epochs, cycle_len=1)               # frozen body, augmented images
    learn.sync_batchnorm = args.sync_bn          # BatchNorm statistics over the global batch
    learn.unfreeze()
    lrs = np.array([args.lr / 100, args.lr / 10, args.lr])
    learn.fit(lrs, args.epochs, cycle_len=1, cycle_mult=2, cbs=[KeepBNStats()])
    learn.save('224_all')
    log_preds, y = learn.get_preds()
    probs_tta, y_tta = learn.tta()
    acc, acc_tta = accuracy(log_preds, y), accuracy(probs_tta, y_tta)
    finish(args, accuracy=float(acc), accuracy_tta=float(acc_tta))


if __name__ == '__main__':
    main()
