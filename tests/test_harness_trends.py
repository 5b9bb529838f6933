"""The trend cores shared by the claim checks and the monitor's rules."""

import numpy as np
import pytest

from lcsuite.harness.trends import is_exponential, kendall_tau, log_linear_fit, spread_ratio


def test_exact_exponential_decay_is_fitted_exactly():
    values = 3.0 * 0.1 ** np.arange(5)
    fit = log_linear_fit(values)
    assert fit.slope == pytest.approx(np.log(0.1))
    assert fit.r2 == pytest.approx(1.0)
    assert fit.fold("decay") == pytest.approx(1e4)
    assert fit.fold("growth") == pytest.approx(1e-4)
    assert is_exponential(fit, "decay", 0.9, 100)
    assert not is_exponential(fit, "growth", 0.9)
    assert not is_exponential(fit, "decay", 0.9, 1e5)  # fold bar not met


def test_series_along_last_axis_and_bad_fits():
    values = np.array([[1.0, 10.0, 100.0], [1.0, 100.0, 1.0], [1.0, 1.0, 1.0]])
    fit = log_linear_fit(values)
    ok = is_exponential(fit, "growth", 0.9)
    assert ok.tolist() == [True, False, False]  # a peak is no trend; a constant has no R²
    assert np.isnan(fit.r2[2])


def test_zero_value_gives_no_trend_and_infinite_spread():
    fit = log_linear_fit([1.0, 0.1, 0.0])
    assert not is_exponential(fit, "decay", 0.0)
    assert spread_ratio([1.0, 0.0]) == np.inf
    assert spread_ratio([[-4.0, 2.0], [1.0, 1.0]]).tolist() == [2.0, 1.0]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        log_linear_fit([1.0])
    with pytest.raises(ValueError, match="direction"):
        log_linear_fit([1.0, 2.0]).fold("up")


def test_kendall_tau():
    assert kendall_tau(np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    assert kendall_tau(np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
