"""The learning-rate schedules are pure functions: check their values and shapes."""
import math

import numpy as np
import pytest

from coursehelpers.training.schedules import (constant, cos_anneal, cycle_lengths, exp_sweep,
                                              one_cycle, sgdr)


def test_cos_anneal_goes_from_start_to_end():
    assert cos_anneal(0) == 1.0
    assert cos_anneal(0.5) == pytest.approx(0.5)
    assert cos_anneal(1) == pytest.approx(0.0, abs=1e-12)
    assert cos_anneal(0.5, start=1.0, end=0.5) == pytest.approx(0.75)
    values = [cos_anneal(p / 10) for p in range(11)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_one_cycle_warms_up_then_anneals():
    assert one_cycle(0.0, pct_start=0.3, div=10) == pytest.approx(0.1)
    assert one_cycle(0.3, pct_start=0.3, div=10) == pytest.approx(1.0)
    assert one_cycle(1.0, pct_start=0.3, div_final=1e4) == pytest.approx(1e-4)
    values = [one_cycle(p / 100) for p in range(101)]
    peak = int(np.argmax(values))
    assert peak == 25
    assert all(a < b for a, b in zip(values[:peak], values[1:peak + 1]))
    assert all(a > b for a, b in zip(values[peak:], values[peak + 1:]))


def test_exp_sweep_takes_equal_steps_on_a_log_scale():
    assert exp_sweep(0, 1e-7, 10) == pytest.approx(1e-7)
    assert exp_sweep(1, 1e-7, 10) == pytest.approx(10)
    ratios = [exp_sweep((i + 1) / 8, 1e-7, 10) / exp_sweep(i / 8, 1e-7, 10) for i in range(8)]
    assert ratios == pytest.approx([10 ** (8 / 8)] * 8)


def test_cycle_lengths_grow_by_cycle_mult():
    assert cycle_lengths(3, 1, 2) == [1, 2, 4]
    assert cycle_lengths(2, 3, 1) == [3, 3]
    with pytest.raises(ValueError, match='n_cycles must be a whole number'):
        cycle_lengths(0)
    with pytest.raises(ValueError, match='cycle_mult must be a whole number'):
        cycle_lengths(2, 1, 1.5)
    with pytest.raises(ValueError, match='cycle_len must be a number of epochs above 0'):
        cycle_lengths(2, 0)


def test_cycles_may_be_fractions_of_an_epoch_that_add_up_to_whole_epochs():
    assert cycle_lengths(2, 0.5) == [0.5, 0.5]
    assert cycle_lengths(2, 1 / 3, 2) == pytest.approx([1 / 3, 2 / 3])
    with pytest.raises(ValueError, match=r'last 1.5 epochs.*add up to a whole number'):
        cycle_lengths(3, 0.5)
    with pytest.raises(ValueError, match='last 0.5 epochs'):
        cycle_lengths(1, 0.5)


@pytest.mark.parametrize('n_cycles, cycle_len, cycle_mult, starts', [
    (2, 0.5, 1, [0, 9]),            # lesson 01's head in quick mode: 18 batches, one epoch
    (2, 1 / 3, 2, [0, 6]),          # lesson 01's fine-tuning in quick mode: 1/3 + 2/3 epoch
    (3, 1, 1, [0, 18, 36])])
def test_fractional_cycles_restart_at_the_full_rate(n_cycles, cycle_len, cycle_mult, starts):
    mults = sgdr(n_cycles, cycle_len, cycle_mult, iters_per_epoch=18)
    assert len(mults) == round(sum(cycle_lengths(n_cycles, cycle_len, cycle_mult))) * 18
    assert np.flatnonzero(mults == 1.0).tolist() == starts
    rises = np.flatnonzero(np.diff(mults) > 0) + 1          # where the rate goes back up
    assert rises.tolist() == starts[1:]


def test_sgdr_restarts_at_1_3_and_7_epochs_with_cycle_mult_2():
    ipe = 5
    mults = sgdr(3, cycle_len=1, cycle_mult=2, iters_per_epoch=ipe)
    assert len(mults) == 7 * ipe
    restarts = np.flatnonzero(mults == 1.0).tolist()
    assert restarts == [0, 1 * ipe, 3 * ipe]              # cycles end after epochs 1, 3 and 7
    for start, end in ((0, 5), (5, 15), (15, 35)):
        cycle = mults[start:end]
        assert np.all(np.diff(cycle) < 0)                  # annealing inside each cycle
        assert cycle[-1] == pytest.approx(cos_anneal((len(cycle) - 1) / len(cycle)))


def test_sgdr_cycles_of_equal_length_and_other_shapes():
    mults = sgdr(2, cycle_len=2, cycle_mult=1, iters_per_epoch=4)
    assert np.array_equal(mults[:8], mults[8:])
    assert mults[4] == pytest.approx(cos_anneal(0.5))
    assert np.all(sgdr(2, 1, 1, 3, shape=constant) == 1.0)
    one = sgdr(1, 4, 1, 10, shape=one_cycle)
    assert one[0] == pytest.approx(1 / 25) and one.max() == pytest.approx(1.0)
    assert math.isclose(one[10], 1.0)                       # peak after 25% of 40 iterations
