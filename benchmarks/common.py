"""What every benchmark shares."""
import json
import os
from pathlib import Path


def load_average():
    """The 1, 5 and 15 minute load averages (other processes slow every timing down)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, 'getloadavg') else None


def save_result(folder, name, result):
    """Write `result` as `folder/name` (JSON), creating the folder; return the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(result, indent=1))
    return path
