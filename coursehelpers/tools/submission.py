"""The Kaggle Planet submission file: one row of predicted tags per test image."""
import csv
from pathlib import Path

from ..vision.multilabel import predicted_tags

__all__ = ['write_submission']


def write_submission(probs, paths, classes, thresh, file):
    """Write a Kaggle Planet submission: a header `image_name,tags`, then one row per image.

    `image_name` is the file name without its extension (`train_7`, `test_0`, `file_10`);
    `tags` are the predicted tags, space-joined (see `predicted_tags`).

    Args:
        probs: N x C probabilities, in the order of `paths`.
        paths: the N image paths (for example `dls.test_ds.paths`).
        classes: the C tag names (`dls.classes`).
        thresh: the threshold chosen on the validation set (see `f2_search`).
        file: where to write the CSV (under the data root, never the data mirror).
    Returns:
        the Path written.

    >>> write_submission(probs, dls.test_ds.paths, dls.classes, 0.2,
    ...                  data_root() / 'planet_submission.csv')        # doctest: +SKIP

    Used in lesson 02.
    """
    tags = predicted_tags(probs, classes, thresh)
    if len(tags) != len(paths):
        raise ValueError(f'{len(tags)} rows of predictions for {len(paths)} images: they must '
                         'come from the same split, in the same order.')
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['image_name', 'tags'])
        writer.writerows([Path(p).stem, t] for p, t in zip(paths, tags))
    return file
