"""LogME against a direct evaluation of the evidence with the D x D matrices, for N > D and N < D."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.selection.logme import logme, logme_details


def direct_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) / N written with A = alpha I + beta F'F (D x D) and m = beta A^-1 F'y."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, logdet = np.linalg.slogdet(a)
    ev = (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * np.sum((f @ m - y) ** 2)
        - alpha / 2 * m @ m
        - logdet / 2
    )
    return ev / n


def columns(labels: np.ndarray, regression: bool) -> np.ndarray:
    if regression:
        return labels[:, None] if labels.ndim == 1 else labels
    return (labels[:, None] == np.unique(labels)[None, :]).astype(float)


CASES = [(200, 12, False), (30, 80, False), (200, 12, True), (25, 60, True)]


@pytest.mark.parametrize("n,d,regression", CASES)
def test_evidence_matches_direct_formula(n, d, regression):
    rng = np.random.default_rng(n * 1000 + d)
    f = rng.normal(size=(n, d))
    if regression:
        labels = f[:, :2] @ rng.normal(size=(2, 3)) + 0.5 * rng.normal(size=(n, 3))
    else:
        labels = (f[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int) + (f[:, 1] > 1).astype(int)
    res = logme_details(f, labels, regression=regression)
    y = columns(labels, regression)
    assert len(res.evidences) == y.shape[1]
    for c in range(y.shape[1]):
        direct = direct_evidence(f, y[:, c], res.alphas[c], res.betas[c])
        assert res.evidences[c] == pytest.approx(direct, rel=1e-8, abs=1e-8)
        # The fit is a maximum: moving alpha or beta by 10 % never raises the evidence. A column the features cannot
        # explain has its supremum at alpha -> infinity (not converged): there only a smaller alpha must not help.
        converged = res.iterations[c] < 1000
        moves = ((1.1, 1), (0.9, 1), (1, 1.1), (1, 0.9)) if converged else ((0.9, 1),)
        for da, db in moves:
            assert direct_evidence(f, y[:, c], res.alphas[c] * da, res.betas[c] * db) <= direct + 1e-9
    assert res.score == pytest.approx(np.mean(res.evidences))
    assert sum(it < 1000 for it in res.iterations) >= 2  # most columns reach the fixed point


def test_small_n_needs_zero_padded_eigenvalues():
    """N < D: the evidence without the D - N zero eigenvalues in log|A| differs from the direct formula."""
    rng = np.random.default_rng(3)
    f = rng.normal(size=(20, 50))
    y = (f[:, 0] > 0).astype(int)
    res = logme_details(f, y)
    s2 = np.linalg.svd(f, compute_uv=False) ** 2
    a, b = res.alphas[0], res.betas[0]
    direct = direct_evidence(f, (y == 0).astype(float), a, b)
    assert res.evidences[0] == pytest.approx(direct, rel=1e-8)
    # Dropping the padded eigenvalues' log(alpha) terms (the copied bug) changes the value by (D - N) log(alpha) / 2N.
    unpadded = direct + (50 - 20) * np.log(a) / 2 / 20
    assert abs(unpadded - direct) > 1e-3
    assert len(s2) == 20


@pytest.mark.parametrize("n,d", [(300, 16), (40, 100)])
def test_informative_features_beat_random(n, d):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=n)
    informative = np.eye(3)[labels] @ rng.normal(size=(3, d)) + 0.05 * rng.normal(size=(n, d))
    noise = rng.normal(size=(n, d))
    assert logme(informative, labels) > logme(noise, labels) + 0.1
    targets = np.eye(3)[labels] * 2.0 - 1.0
    assert logme(informative, targets, regression=True) > logme(noise, targets, regression=True) + 0.1


def test_input_errors():
    with pytest.raises(ValueError):
        logme(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        logme(np.zeros(3), np.zeros(3))
