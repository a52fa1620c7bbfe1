from __future__ import annotations

import numpy as np
import pytest

from hwnas.lut.fidelity import fidelity, fidelity_by_bin, kendall, spearman


def test_spearman_is_one_for_any_monotone_map_and_minus_one_reversed():
    x = np.random.default_rng(0).uniform(0.1, 5, 40)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)


def test_spearman_handles_ties_with_average_ranks():
    # ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4]
    expected = np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1]
    assert spearman([1, 2, 2, 3], [10, 20, 30, 40]) == pytest.approx(expected)


def test_fidelity_counts_the_share_within_tolerance_and_the_mape():
    measured = [1.0, 2.0, 4.0, 8.0]
    predicted = [1.05, 2.5, 3.7, 8.0]  # errors 5%, 25%, 7.5%, 0%
    f = fidelity(predicted, measured)
    assert f.within == pytest.approx(0.75)
    assert f.mape == pytest.approx((0.05 + 0.25 + 0.075 + 0) / 4)
    assert f.spearman == pytest.approx(1.0)
    assert f.bias == pytest.approx((0.05 + 0.25 - 0.075 + 0) / 4)  # signed: over- and under-predictions cancel
    with pytest.raises(ValueError, match="equally long"):
        fidelity([1.0], [1.0, 2.0])


def test_kendall_counts_concordant_pairs():
    assert kendall([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)  # pairs (1,2) and (1,3) agree, (2,3) does not


def test_fidelity_by_bin_finds_the_end_where_the_table_misses():
    """Right on the large networks, 25 % low on the small ones: the overall share hides it, the bins do not."""
    measured = np.linspace(0.3, 3.0, 9)
    predicted = np.where(measured < 1.2, measured * 0.75, measured * 1.02)
    bins = fidelity_by_bin(predicted, measured)
    assert list(bins) == ["all", "smallest third", "middle third", "largest third"]
    assert bins["smallest third"].within == 0 and bins["smallest third"].bias == pytest.approx(-0.25)
    assert bins["largest third"].within == 1 and bins["largest third"].bias == pytest.approx(0.02)
    assert bins["all"].n == 9 and 0 < bins["all"].within < 1
