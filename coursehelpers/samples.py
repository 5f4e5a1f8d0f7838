"""How a quick-mode sample is cut from a full upstream archive, deterministically.

Used by `get_data` when no upstream sample exists and no mirror holds one.
Each cut reads the unpacked archive at `src` and writes the sample to `dest`.
"""
import shutil
from pathlib import Path

__all__ = ['cut_dogscats', 'cut_rossmann', 'CUTS']


def cut_dogscats(src, dest, n_train=150, n_valid=50):
    """Copy the first `n_train` / `n_valid` images per class (sorted by name) to `dest`."""
    src, dest = Path(src), Path(dest)
    for split, n in (('train', n_train), ('valid', n_valid)):
        for cls in sorted(p.name for p in (src / split).iterdir() if p.is_dir()):
            files = sorted((src / split / cls).glob('*.jpg'))[:n]
            (dest / split / cls).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, dest / split / cls / f.name)
    return dest


def cut_rossmann(src, dest, n_rows=10_000):
    """Copy every table; keep the header and first `n_rows` rows of train.csv."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.glob('*.csv'):
        if f.name == 'train.csv':
            with open(f) as fin, open(dest / f.name, 'w') as fout:
                for i, line in enumerate(fin):
                    if i > n_rows:
                        break
                    fout.write(line)
        else:
            shutil.copyfile(f, dest / f.name)
    return dest


CUTS = {'dogscats': cut_dogscats, 'rossmann': cut_rossmann}
