"""Small pure statistics for the report: seed spread, bootstrap CI, paired tests, Holm correction, rank correlation.

Choices (also printed in the report's methods section):
- std over seeds is the sample std (ddof=1); undefined (nan) for a single seed.
- the bootstrap resamples the paired (language, seed) differences with replacement, `BOOTSTRAP_RESAMPLES` times,
  from a fixed generator seed, and takes the percentile interval.
- the paired test is the two-sided paired t-test when there are fewer than `WILCOXON_MIN_PAIRS` pairs, because the
  exact Wilcoxon signed-rank test cannot go below p = 2 / 2**n there (0.031 at n = 6) and Holm correction would then
  hide every effect; from `WILCOXON_MIN_PAIRS` pairs on it is the two-sided Wilcoxon signed-rank test.
  Differences that are all equal and nonzero (no variance for t) get the exact sign-test p = 2 / 2**n.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
WILCOXON_MIN_PAIRS = 10
ALPHA = 0.05


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1); std is nan for fewer than two values."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    std = float(arr.std(ddof=1)) if arr.size >= 2 else math.nan
    return float(arr.mean()), std


def bootstrap_ci(
    diffs: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `diffs` (resampled with replacement, fixed seed)."""
    arr = np.asarray(diffs, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedTest:
    """Result of a two-sided paired test of a setting against the baseline."""

    name: str
    p_value: float
    n: int


def paired_test(setting: Sequence[float], baseline: Sequence[float]) -> PairedTest:
    """Two-sided paired test of `setting` vs `baseline` over matched pairs (see the module docstring for which)."""
    a, b = np.asarray(setting, dtype=float), np.asarray(baseline, dtype=float)
    d = a - b
    n = int(d.size)
    if n == 0:
        return PairedTest("none (no pairs)", math.nan, 0)
    if np.all(d == 0):
        return PairedTest("none (no difference)", 1.0, n)
    if np.all(d == d[0]):
        return PairedTest("sign (constant difference)", min(1.0, 2.0 * 0.5**n), n)
    if n < WILCOXON_MIN_PAIRS:
        return PairedTest("paired t", float(sps.ttest_rel(a, b).pvalue), n)
    return PairedTest("Wilcoxon signed-rank", float(sps.wilcoxon(d).pvalue), n)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in input order; nan p-values stay nan and do not count in m."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    m = len(order)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))  # monotone: never below an earlier step
        adjusted[i] = running
    return adjusted


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman rho and Kendall tau-b of two paired vectors; nan below three points or for a constant vector."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = sps.spearmanr(a, b).statistic
        tau = sps.kendalltau(a, b).statistic
    return float(rho), float(tau)
