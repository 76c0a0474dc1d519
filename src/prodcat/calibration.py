"""Probabilities that can be trusted: temperature scaling, calibration error and review thresholds."""

from __future__ import annotations

from math import exp

import numpy as np


# Softmax and log-softmax in plain NumPy: SciPy's versions cost about 10 microseconds more per call
# (array-API dispatch), which is a fifth of a single product's prediction.
FEW_LABELS = 32  # one product's row with up to this many labels: Python floats beat NumPy's per-call cost


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` along the last axis."""
    if logits.ndim == 2 and logits.shape[0] == 1 and logits.shape[1] <= FEW_LABELS:
        return _one_row_probabilities(logits[0].tolist(), 1.0 / temperature)
    z = np.multiply(logits, 1.0 / temperature, dtype=np.float64)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _one_row_probabilities(logits: list[float], inverse_temperature: float) -> np.ndarray:
    """``probabilities`` of one row with few labels, in Python floats: a third of the time of the five
    NumPy calls, which matters when a single product's whole prediction takes tens of microseconds."""
    top = max(logits)
    exps = [exp((value - top) * inverse_temperature) for value in logits]
    total = sum(exps)
    return np.array([[value / total for value in exps]])


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log of the softmax of ``logits`` along ``axis``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimizes the negative log-likelihood of ``y`` (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar  # lazily: predicting needs no SciPy

    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, y].mean())

    result = minimize_scalar(nll, bounds=(np.log(1e-3), np.log(1e3)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            error += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(error)


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> list[dict]:
    """Per confidence bin: its range, number of rows, mean confidence and accuracy (for a diagram)."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return [
        {
            "low": b / n_bins,
            "high": (b + 1) / n_bins,
            "count": int((bins == b).sum()),
            "confidence": float(confidence[bins == b].mean()) if (bins == b).any() else None,
            "accuracy": float(correct[bins == b].mean()) if (bins == b).any() else None,
        }
        for b in range(n_bins)
    ]


def threshold_for_precision(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence threshold at which the predictions kept reach ``target`` precision.

    Returns 1.0 when no threshold reaches it (everything goes to review).
    """
    order = np.argsort(-confidence, kind="stable")
    sorted_confidence = confidence[order]
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # A threshold may only cut between distinct confidence values.
    last_of_tie = np.r_[sorted_confidence[1:] != sorted_confidence[:-1], True]
    ok = np.flatnonzero((precision >= target) & last_of_tie)
    return float(sorted_confidence[ok[-1]]) if len(ok) else 1.0


def coverage_at(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    """Share of rows at or above ``threshold`` (decided automatically) and their precision."""
    kept = confidence >= threshold
    return {
        "threshold": float(threshold),
        "coverage": float(kept.mean()) if len(kept) else 0.0,
        "precision": float(correct[kept].mean()) if kept.any() else None,
    }
