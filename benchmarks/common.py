"""What every benchmark shares."""
import os


def load_average():
    """The 1, 5 and 15 minute load averages (other processes slow every timing down)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, 'getloadavg') else None
