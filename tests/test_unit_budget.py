"""Unit tests of ``manager/_budget.py``: the arithmetic of the cost cap (what fits)."""

from __future__ import annotations

import math

from batchnb.manager._budget import Fit, available, fit_prefix


def test_a_prefix_that_sums_exactly_to_the_room_fits():
    assert fit_prefix([0.25, 0.25, 0.5], 1.0) == Fit(3, 1.0)


def test_only_the_prefix_that_fits_is_kept():
    assert fit_prefix([0.5, 0.5, 0.5], 1.25) == Fit(2, 1.0)


def test_nothing_fits_when_the_first_item_is_too_big_even_if_later_ones_would():
    assert fit_prefix([2.0, 0.125], 1.0) == Fit(0, 0.0)


def test_nothing_fits_in_no_room_or_negative_room():
    assert fit_prefix([0.125], 0.0) == Fit(0, 0.0)
    assert fit_prefix([0.125], -0.5) == Fit(0, 0.0)


def test_free_items_fit_in_no_room():
    assert fit_prefix([0.0, 0.0], 0.0) == Fit(2, 0.0)


def test_infinite_room_takes_everything_and_reserves_the_sum():
    assert fit_prefix([3.0, 1e9, 0.5], math.inf) == Fit(3, 1e9 + 3.5)


def test_an_empty_job_fits_with_nothing_reserved():
    assert fit_prefix([], 1.0) == Fit(0, 0.0)
    assert fit_prefix([], math.inf) == Fit(0, 0.0)


def test_without_max_cost_the_room_is_infinite():
    assert available(None, spent=100.0, reserved=50.0) == math.inf


def test_the_room_is_max_cost_less_spent_and_reserved():
    assert available(10.0, spent=3.0, reserved=2.5) == 4.5


def test_an_overcommitted_budget_leaves_negative_room():
    assert available(1.0, spent=1.0, reserved=0.5) == -0.5
