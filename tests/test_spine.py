"""Modes, device choice, precision, seeding, the banner and the command line."""
import subprocess
import sys

import pytest
import torch

from coursehelpers import banner, get_mode, per_mode, seed_everything
from coursehelpers.env.device import amp_dtype, autocast, default_device, grad_scaler, no_gpu_reason


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv('COURSE_MODE', 'full')
    assert get_mode() == 'full' and per_mode(quick=128, full=224) == 224
    monkeypatch.setenv('COURSE_MODE', 'quick')
    assert get_mode() == 'quick' and per_mode(quick=128, full=224) == 128
    monkeypatch.setenv('COURSE_MODE', 'fast')
    with pytest.raises(ValueError, match="'quick' or 'full'"):
        get_mode()


def test_default_mode_follows_cuda(monkeypatch):
    monkeypatch.delenv('COURSE_MODE', raising=False)
    assert get_mode() == ('full' if torch.cuda.is_available() else 'quick')


def test_device_choice_and_override(monkeypatch):
    monkeypatch.delenv('COURSE_DEVICE', raising=False)
    mps = getattr(torch.backends, 'mps', None)
    expected = ('cuda' if torch.cuda.is_available()
                else 'mps' if mps is not None and mps.is_available() else 'cpu')
    assert default_device().type == expected
    monkeypatch.setenv('COURSE_DEVICE', 'cpu')
    assert default_device() == torch.device('cpu')
    if not torch.cuda.is_available():
        monkeypatch.setenv('COURSE_DEVICE', 'cuda')
        with pytest.raises(RuntimeError, match='CUDA is not usable'):
            default_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason='the no-GPU explanation needs a machine without one')
def test_no_gpu_reason_says_why():
    reason = no_gpu_reason()
    assert ('CPU-only build' in reason) if torch.version.cuda is None else ('driver' in reason)


def test_precision_is_a_no_op_on_cpu():
    assert amp_dtype('cpu') is None
    with autocast('cpu'):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32
    assert not grad_scaler('cpu').is_enabled()


def test_seed_everything_repeats_random_draws():
    import random
    import numpy as np
    seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())


def test_banner_names_mode_device_data_and_versions(data_root, capsys):
    assert banner(seed=1) is None
    text = capsys.readouterr().out
    assert 'mode      quick' in text and str(data_root) in text
    assert f'torch {torch.__version__}' in text and 'coursehelpers 0.1.0' in text
    assert ('no GPU' in text) == (not torch.cuda.is_available())


def test_command_line_info_and_data_list(data_root):
    run = lambda *a: subprocess.run([sys.executable, '-m', 'coursehelpers', *a],
                                    capture_output=True, text=True, timeout=120)
    info = run('info')
    assert info.returncode == 0 and 'mode      quick' in info.stdout
    listing = run('data', 'list')
    assert listing.returncode == 0
    for name in ('dogscats', 'planet', 'rossmann', 'imdb', 'ml-latest-small', 'nietzsche'):
        assert name in listing.stdout
    bad = run('data', 'fetch', 'nope')
    assert bad.returncode == 2 and "No data set called 'nope'" in bad.stderr
