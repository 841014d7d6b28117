"""Wilson's interval against values computed by hand from its formula and known published figures."""

import math

import pytest

from batchnb.results._interval import wilson


def test_32_of_40_is_80_percent_with_the_textbook_wilson_bounds():
    share = wilson(32, 40)
    assert share.value == 0.8
    # p=0.8, n=40: centre = (p + z²/2n) / (1 + z²/n), half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    z = 1.959963984540054
    d = 1 + z * z / 40
    centre = (0.8 + z * z / 80) / d
    half = z * math.sqrt(0.8 * 0.2 / 40 + z * z / 6400) / d
    assert share.low == pytest.approx(centre - half) and share.high == pytest.approx(centre + half)
    assert share.low == pytest.approx(0.6524, abs=1e-4) and share.high == pytest.approx(0.8950, abs=1e-4)
    assert share.low < 0.8 < share.high


def test_the_interval_narrows_with_more_labels_at_the_same_share():
    widths = [wilson(0.8 * n, n).high - wilson(0.8 * n, n).low for n in (10, 40, 160, 640)]
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 4


def test_all_or_none_right_is_not_a_zero_wide_interval_and_stays_in_0_1():
    assert wilson(10, 10).high == pytest.approx(1.0) and wilson(10, 10).low == pytest.approx(0.7225, abs=1e-4)
    assert wilson(0, 10).low == 0.0 and wilson(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    assert (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0) and math.isnan(wilson(0, 0).value)


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError):
        wilson(5, 4)
