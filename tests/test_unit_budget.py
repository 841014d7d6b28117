"""Unit tests of ``manager/plan/_budget.py``: the arithmetic of the cost cap (what fits)."""

from __future__ import annotations

import math

from batchnb.manager.plan._budget import Fit, Rounds, available, fit_prefix, plan_rounds


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


# ----------------------------------------------------------------------- the rounds a binding cap implies


def test_with_no_cost_measured_the_rounds_are_the_fewest_the_cap_allows():
    rounds = plan_rounds(300, 0.001, 0.0, 0.024)  # 24 worst cases fit at once, and the room never shrinks
    assert rounds == Rounds([24] * 12 + [12], 0) and rounds.count == 13
    assert rounds.batches(10) == 12 * 3 + 2 and rounds.batches(100) == 13


def test_each_round_has_the_room_less_what_the_one_before_really_cost():
    # room 1.0 holds 4 worst cases of 0.25; they cost 0.0625 each, so the next round has 0.75: 3, then 2, 1
    assert plan_rounds(10, 0.25, 0.0625, 1.0) == Rounds([4, 3, 2, 1], 0)


def test_answers_costing_their_worst_case_leave_items_never_sent():
    assert plan_rounds(10, 0.25, 0.25, 1.0) == Rounds([4], 6)
    assert plan_rounds(10, 0.25, 0.0, 0.2) == Rounds([], 10)  # not even one fits


def test_without_a_worst_case_everything_goes_in_one_round():
    assert plan_rounds(7, 0.0, 0.0, 0.0) == Rounds([7], 0)
