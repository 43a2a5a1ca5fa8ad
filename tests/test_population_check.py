"""Spearman's rho of the population check, computed from ranks, against ``scipy.stats.spearmanr``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from planner.population_check import spearman_rho


@pytest.mark.parametrize("seed", range(20))
def test_rho_from_ranks_equals_scipy_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 80))
    a = rng.normal(size=n) * 1e5
    b = a * rng.uniform(-1, 1) + rng.normal(size=n) * 1e5
    if seed % 2:  # ties, as households x household size and small unit counts give
        a, b = np.round(a, -5), np.round(b, -5)
    expected = stats.spearmanr(a, b).statistic
    assert abs(spearman_rho(a, b) - expected) <= 1e-12
    assert abs(spearman_rho(pd.Series(a), pd.Series(b)) - expected) <= 1e-12


def test_rho_is_one_or_minus_one_for_monotone_pairs():
    a = np.array([3.0, 1.0, 2.0, 10.0, 7.0])
    assert spearman_rho(a, a**3) == pytest.approx(1.0, abs=1e-15)
    assert spearman_rho(a, -a) == pytest.approx(-1.0, abs=1e-15)


def test_rho_is_nan_where_scipy_says_nan():
    const, varied, missing = np.full(5, 2.0), np.arange(5.0), np.array([1.0, np.nan, 3.0, 4.0, 5.0])
    with pytest.warns(stats.ConstantInputWarning):
        assert np.isnan(stats.spearmanr(const, varied).statistic)
    assert np.isnan(spearman_rho(const, varied)) and np.isnan(spearman_rho(varied, const))
    assert np.isnan(stats.spearmanr(missing, varied).statistic) and np.isnan(spearman_rho(missing, varied))
    assert np.isnan(spearman_rho([1.0], [2.0])) and np.isnan(spearman_rho([], []))
    with pytest.raises(ValueError, match="5 values against 4"):
        spearman_rho(varied, varied[:4])
