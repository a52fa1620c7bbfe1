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
