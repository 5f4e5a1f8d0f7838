"""The headless lesson runner: `python -m coursehelpers lessons run`.

- `lessons.py`: find lessons, run each in a fresh Jupyter kernel, collect `results.json`;
- `inprocess.py`: run a notebook's code cells in a plain Python process (no Jupyter);
- `site.py`: the rendered course, every lesson run and converted to HTML (`site`).
"""
from .lessons import find_lessons, results_markdown, run_lessons

__all__ = ['find_lessons', 'results_markdown', 'run_lessons']
