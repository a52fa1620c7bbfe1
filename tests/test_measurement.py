import numpy as np
import pytest

from hwnas.core.measurement import Measurement


def test_statistics_are_derived_from_the_raw_samples():
    samples = [1.0, 2.0, 3.0, 4.0, 100.0]
    m = Measurement.from_samples(samples)
    assert m.samples_ms == tuple(samples)
    assert m.n == 5
    assert m.median_ms == 3.0
    assert m.mean_ms == pytest.approx(22.0)
    assert m.iqr_ms == pytest.approx(np.percentile(samples, 75) - np.percentile(samples, 25))


def test_noisy_flag_follows_iqr_over_median():
    steady = Measurement.from_samples([1.00, 1.01, 0.99, 1.0, 1.02], noise_threshold=0.1)
    jittery = Measurement.from_samples([1.0, 1.5, 0.6, 1.2, 0.8], noise_threshold=0.1)
    assert not steady.noisy
    assert jittery.noisy
    assert jittery.noise_ratio == pytest.approx(jittery.iqr_ms / jittery.median_ms)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, -0.5]])
def test_rejects_empty_or_invalid_samples(bad):
    with pytest.raises(ValueError):
        Measurement.from_samples(bad)


def test_a_summary_without_samples_keeps_the_printed_figures_and_estimates_the_iqr():
    from hwnas.core.measurement import RunSummary

    printed = RunSummary(n=50, mean_ms=1.24027, std_ms=0.002565, min_ms=1.238588, max_ms=1.252566, median_ms=1.239807)
    m = Measurement.from_summary(printed, noise_threshold=0.1)
    assert m.samples_ms == () and m.n == 50
    assert m.median_ms == 1.239807 and m.mean_ms == 1.24027  # the tool's median, not its mean
    assert m.iqr_ms == pytest.approx(1.349 * 0.002565) and not m.noisy
    assert m.total_ms == pytest.approx(50 * 1.24027)
    no_median = Measurement.from_summary(RunSummary(n=4, mean_ms=2.0, std_ms=0.5, min_ms=1.5, max_ms=2.7))
    assert no_median.median_ms == 2.0 and no_median.noisy  # 1.349 * 0.5 / 2.0 > 0.1
    for kept in (m, Measurement.from_samples([1.0, 2.0])):
        assert Measurement.from_json(kept.to_json(), 0.1) == kept
    with pytest.raises(ValueError):
        RunSummary(n=0, mean_ms=1, std_ms=0, min_ms=1, max_ms=1)
