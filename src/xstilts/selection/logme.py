"""LogME (You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning"), from the paper.

For features F (N x D) and one target column y (N), Bayesian linear regression y = F w + e with prior
w ~ N(0, 1/alpha I) and noise e ~ N(0, 1/beta I) has the log evidence

    L(alpha, beta) = D/2 log alpha + N/2 log beta - N/2 log 2pi - beta/2 ||F m - y||^2 - alpha/2 m'm - 1/2 log|A|,
    A = alpha I + beta F'F,  m = beta A^-1 F'y.

alpha and beta are fitted by the fixed-point iteration of MacKay's evidence framework (the paper's Algorithm 1):
gamma = sum_i beta s_i / (alpha + beta s_i), alpha = gamma / m'm, beta = (N - gamma) / ||F m - y||^2, with s_i the
eigenvalues of F'F. LogME is the maximized evidence divided by N, averaged over the target columns (one-vs-rest
indicator columns for classification; the columns of an N x C target matrix for regression).

Everything is computed through one SVD of F. The eigenvalues of F'F are the squared singular values *padded with zeros
up to D*: when N < D there are only N singular values, and the D - N zero eigenvalues still contribute log(alpha)
each to log|A| (the commonly copied fast implementation drops them, which is wrong exactly when samples < dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_TINY = 1e-12


@dataclass
class LogMEResult:
    """LogME score and, per target column, the fitted alpha, beta and the evidence / N at those values."""

    score: float
    alphas: list[float] = field(default_factory=list)
    betas: list[float] = field(default_factory=list)
    evidences: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)


def _targets(labels: np.ndarray, regression: bool) -> np.ndarray:
    y = np.asarray(labels)
    if regression:
        y = y.astype(np.float64)
        return y[:, None] if y.ndim == 1 else y
    if y.ndim != 1:
        raise ValueError("classification labels must be a vector of class ids")
    classes = np.unique(y)
    return (y[:, None] == classes[None, :]).astype(np.float64)  # one-vs-rest indicator columns


def _fit_column(
    s2: np.ndarray, z: np.ndarray, y_sq: float, n: int, d: int, max_iter: int, tol: float
) -> tuple[float, float, float, int]:
    """Fixed-point fit for one column given the nonzero-rank spectrum s2 (= s_i^2, i < k) and z = U'y.

    Returns (alpha, beta, evidence / N, iterations)."""
    k = len(s2)
    z2 = z * z
    out_of_span = max(y_sq - float(z2.sum()), 0.0)  # ||y||^2 - ||U U'y||^2: the part of y no w can fit
    alpha, beta = 1.0, 1.0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is returned: the iterations used
        denom = alpha + beta * s2
        gamma = float((beta * s2 / denom).sum())  # the D - k zero eigenvalues add nothing to gamma
        m2 = float((beta * beta * s2 * z2 / (denom * denom)).sum())  # m'm, with m = V diag(beta s / denom) z
        res2 = float((alpha * alpha * z2 / (denom * denom)).sum()) + out_of_span  # ||F m - y||^2
        new_alpha = gamma / max(m2, _TINY)
        new_beta = max(n - gamma, _TINY) / max(res2, _TINY)
        done = abs(new_alpha - alpha) <= tol * abs(alpha) and abs(new_beta - beta) <= tol * abs(beta)
        alpha, beta = new_alpha, new_beta
        if done:
            break
    denom = alpha + beta * s2
    m2 = float((beta * beta * s2 * z2 / (denom * denom)).sum())
    res2 = float((alpha * alpha * z2 / (denom * denom)).sum()) + out_of_span
    logdet = float(np.log(denom).sum()) + (d - k) * np.log(alpha)  # zero eigenvalues padded up to D
    evidence = (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * res2
        - alpha / 2 * m2
        - logdet / 2
    )
    return alpha, beta, float(evidence) / n, it


def logme_details(
    features: np.ndarray, labels: np.ndarray, regression: bool = False, max_iter: int = 1000, tol: float = 1e-6
) -> LogMEResult:
    """LogME with the fitted alpha/beta and evidence of every target column (see the module docstring).

    With N < D the fixed point can take a few hundred iterations; when the features explain nothing the evidence rises
    towards alpha -> infinity (w = 0), and the iteration stops at max_iter with a very large alpha."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be N x D, got shape {f.shape}")
    y = _targets(labels, regression)
    n, d = f.shape
    if y.shape[0] != n:
        raise ValueError(f"{n} feature rows but {y.shape[0]} labels")
    u, s, _ = np.linalg.svd(f, full_matrices=False)  # k = min(N, D) singular values
    keep = s > s.max() * max(n, d) * np.finfo(np.float64).eps if len(s) else s > 0
    u, s2 = u[:, keep], s[keep] ** 2  # numerically zero singular values are zero eigenvalues (padded below)
    z_all = u.T @ y
    out = LogMEResult(score=0.0)
    for c in range(y.shape[1]):
        a, b, ev, it = _fit_column(s2, z_all[:, c], float(y[:, c] @ y[:, c]), n, d, max_iter, tol)
        out.alphas.append(a)
        out.betas.append(b)
        out.evidences.append(ev)
        out.iterations.append(it)
    out.score = float(np.mean(out.evidences))
    return out


def logme(features: np.ndarray, labels: np.ndarray, regression: bool = False) -> float:
    """LogME of `features` (N x D) for `labels` (N class ids, or N / N x C real targets with regression=True).

    Higher is better; comparable between feature extractors on the same labels."""
    return logme_details(features, labels, regression).score
