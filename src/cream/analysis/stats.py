"""Rank correlation of two score lists (scipy), and a paired bootstrap of the difference between two studies."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from cream.engine.logs import json_number


def fmt(value: float | None) -> str:
    """A statistic for people: three significant digits, or 'undefined'."""
    return "undefined" if value is None else f"{value:.3g}"


def rank_correlation(x, y) -> dict:
    """Kendall tau-b (with its two-sided p-value) and Spearman rho of paired scores ``x`` and ``y``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"rank correlation needs two equally long lists, got {x.shape} and {y.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # reported as None instead
        kendall = stats.kendalltau(x, y)
        spearman = stats.spearmanr(x, y)
    return {"n": len(x), "kendall_tau": json_number(kendall.statistic),
            "kendall_p": json_number(kendall.pvalue), "spearman_rho": json_number(spearman.statistic),
            "spearman_p": json_number(spearman.pvalue)}


def bootstrap_tau(x, y, resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict:
    """A percentile bootstrap interval of Kendall tau of paired scores (paths drawn with replacement)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    taus = np.asarray([_tau(x[i], y[i]) for i in (rng.integers(0, len(x), len(x)) for _ in range(resamples))])
    low, high, valid = _percentile_interval(taus, confidence)
    return {"low": json_number(low), "high": json_number(high), "confidence": confidence,
            "resamples": resamples, "valid_resamples": valid, "seed": seed}


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """The central ``confidence`` percentile interval of the finite ``values`` (NaNs: undefined resamples),
    and how many were finite."""
    valid = values[np.isfinite(values)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(valid, [tail, 100 - tail]) if len(valid) else (math.nan, math.nan)
    return float(low), float(high), int(len(valid))


def seed_noise(per_path: list[list[float]]) -> dict:
    """Noise of repeated trainings against the spread between paths.

    ``per_path[i]`` holds path i's accuracies, one per seed. seed_sd: pooled within-path standard deviation
    (root of the mean of per-path sample variances); path_sd: standard deviation of the paths' means.
    """
    seeds = min(len(v) for v in per_path)
    means = [float(np.mean(v)) for v in per_path]
    path_sd = float(np.std(means, ddof=1)) if len(means) > 1 else None
    if seeds < 2:
        return {"seeds": seeds, "seed_sd": None, "path_sd": path_sd, "noise_to_spread": None}
    seed_sd = math.sqrt(float(np.mean([np.var(v, ddof=1) for v in per_path])))
    return {"seeds": seeds, "seed_sd": seed_sd, "path_sd": path_sd,
            "noise_to_spread": seed_sd / path_sd if path_sd else None}


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # NaN, counted by the caller
        return float(stats.kendalltau(x, y).statistic)


def bootstrap_tau_difference(ws_a, sa_a, ws_b, sa_b, resamples: int = 5000, seed: int = 0,
                             confidence: float = 0.95) -> dict:
    """tau(ws_a, sa_a) - tau(ws_b, sa_b) with a percentile confidence interval from a paired bootstrap.

    Entry ``i`` of all four lists belongs to the same path; each resample draws paths with replacement and
    keeps the four scores of a path together, so the two studies' shared noise (the same paths) cancels.
    Resamples where a tau is undefined (all drawn scores equal) are left out and counted.
    """
    ws_a, sa_a, ws_b, sa_b = (np.asarray(v, dtype=float) for v in (ws_a, sa_a, ws_b, sa_b))
    n = len(ws_a)
    if not all(len(v) == n for v in (sa_a, ws_b, sa_b)):
        raise ValueError("the four score lists must have one entry per shared path")
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        diffs.append(_tau(ws_a[i], sa_a[i]) - _tau(ws_b[i], sa_b[i]))
    low, high, valid = _percentile_interval(np.asarray(diffs), confidence)
    point = _tau(ws_a, sa_a) - _tau(ws_b, sa_b)
    return {"tau_difference": json_number(point), "low": json_number(low), "high": json_number(high),
            "confidence": confidence, "resamples": resamples, "valid_resamples": valid, "seed": seed,
            "significant": bool(valid) and not low <= 0.0 <= high}
