"""Kaggle competition data through the official `kaggle` package.

Every failure a student meets first (package missing, no API token, rules not
accepted) ends in a message that says exactly what to do.
"""
import os
import shutil
import tempfile
from pathlib import Path

from .download import DataError, safe_extract

__all__ = ['kaggle_credentials', 'kaggle_fetch']


def kaggle_credentials():
    """Return where the Kaggle API token was found, or raise DataError saying where it goes."""
    if os.environ.get('KAGGLE_USERNAME') and os.environ.get('KAGGLE_KEY'):
        return 'KAGGLE_USERNAME/KAGGLE_KEY'
    folder = Path(os.environ.get('KAGGLE_CONFIG_DIR', Path.home() / '.kaggle'))
    token = folder / 'kaggle.json'
    if token.exists():
        return str(token)
    raise DataError(
        f'No Kaggle API token: {token} does not exist.\n'
        '  1. Sign in at https://www.kaggle.com, open Settings, and under "API" click '
        '"Create New Token"; a file kaggle.json downloads.\n'
        f'  2. Move it to {token} and run: chmod 600 {token}\n'
        '  (or set KAGGLE_USERNAME and KAGGLE_KEY), then run this again.')


def _api():
    """An authenticated KaggleApi, or a DataError that says how to install or log in."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise DataError("The Kaggle package is not installed. Run: pip install 'coursehelpers[kaggle]' "
                        '(or pip install kaggle), then run this again.') from None
    kaggle_credentials()
    api = KaggleApi()
    api.authenticate()
    return api


def _find(root, name):
    hits = sorted(root.rglob(name))
    return hits[0] if hits else None


def kaggle_fetch(competition, dest, layout):
    """Download the files of a Kaggle `competition` and place those of `layout` into `dest`.

    Files ending in .zip are unpacked safely. Raises DataError for missing
    credentials or rules that were not accepted. Used by `get_data('planet', 'full')`.
    """
    api, dest = _api(), Path(dest)
    tmp = Path(tempfile.mkdtemp(prefix='.kaggle.', dir=dest.parent if dest.parent.exists() else None))
    try:
        try:
            api.competition_download_files(competition, path=str(tmp), quiet=False)
        except Exception as e:                              # the API raises its own ApiException
            if '403' in str(e) or 'Forbidden' in str(e):
                raise DataError(f'Kaggle refused the download (403): accept the competition rules at '
                                f'https://www.kaggle.com/competitions/{competition}/rules with the '
                                'account of your token, then run this again.') from None
            raise DataError(f'Kaggle download of {competition} failed: {e}') from None
        for z in list(tmp.rglob('*.zip')):
            safe_extract(z, z.with_suffix(''))
        staging = tmp / '_layout'
        for rel in layout:
            found = _find(tmp, rel)
            if found is None:
                raise DataError(f'The Kaggle files of {competition} hold no {rel}; found: '
                                f'{sorted(p.name for p in tmp.rglob("*"))[:20]}')
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(found, staging / rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
