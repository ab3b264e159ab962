import numpy as np
import pytest
from scipy import stats

from cream.analysis.stats import bootstrap_tau, bootstrap_tau_difference, fmt, rank_correlation, seed_noise


def test_rank_correlation_matches_hand_counts_and_scipy():
    # Two swapped neighbours out of 10 pairs: tau = (8 - 2) / 10; squared rank differences sum to 4:
    # rho = 1 - 6 * 4 / (5 * 24).
    x, y = [1, 2, 3, 4, 5], [1, 3, 2, 5, 4]
    r = rank_correlation(x, y)
    assert r["n"] == 5 and r["kendall_tau"] == pytest.approx(0.6) and r["spearman_rho"] == pytest.approx(0.8)
    assert r["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue)
    assert r["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    b = a + rng.normal(size=30)
    r = rank_correlation(a, b)
    assert r["kendall_tau"] == pytest.approx(stats.kendalltau(a, b).statistic)
    assert r["spearman_rho"] == pytest.approx(stats.spearmanr(a, b).statistic)
    assert rank_correlation(x, x[::-1])["kendall_tau"] == pytest.approx(-1.0)


def test_undefined_correlation_is_none_not_nan():
    r = rank_correlation([1, 2, 3], [4, 4, 4])
    assert r["kendall_tau"] is None and r["spearman_rho"] is None and fmt(r["kendall_tau"]) == "undefined"
    with pytest.raises(ValueError, match="equally long"):
        rank_correlation([1, 2], [1, 2, 3])


def test_identical_studies_differ_by_exactly_zero():
    rng = np.random.default_rng(1)
    ws, sa = rng.normal(size=20), rng.normal(size=20)
    d = bootstrap_tau_difference(ws, sa, ws, sa, resamples=300, seed=0)
    assert d["tau_difference"] == 0 and d["low"] == 0 and d["high"] == 0 and not d["significant"]


def test_a_faithful_supernet_beats_a_random_one_significantly():
    rng = np.random.default_rng(2)
    standalone = np.linspace(60, 90, 25)
    faithful = standalone + rng.normal(scale=2, size=25)  # ranks almost exactly like stand-alone training
    scrambled = rng.permutation(standalone)  # ranks at random
    d = bootstrap_tau_difference(faithful, standalone, scrambled, standalone, resamples=500, seed=3)
    assert d["significant"] and 0 < d["low"] <= d["tau_difference"] <= d["high"] <= 2
    assert d["valid_resamples"] == 500
    again = bootstrap_tau_difference(faithful, standalone, scrambled, standalone, resamples=500, seed=3)
    assert again == d
    reverse = bootstrap_tau_difference(scrambled, standalone, faithful, standalone, resamples=500, seed=3)
    assert reverse["tau_difference"] == pytest.approx(-d["tau_difference"]) and reverse["high"] < 0


def test_two_similar_supernets_are_not_called_different():
    rng = np.random.default_rng(4)
    standalone = rng.normal(size=15)
    a = standalone + rng.normal(scale=1.0, size=15)
    b = standalone + rng.normal(scale=1.0, size=15)
    d = bootstrap_tau_difference(a, standalone, b, standalone, resamples=500, seed=0)
    assert d["low"] < d["tau_difference"] < d["high"] and d["low"] < 0 < d["high"] and not d["significant"]


def test_seed_noise_is_the_pooled_within_path_sd_against_the_sd_of_path_means():
    # Per-path sample variances 2, 0, 2 -> pooled sd sqrt(4/3); means 81, 70, 89 around 80 -> sd sqrt(182/2).
    noise = seed_noise([[80, 82], [70, 70], [90, 88]])
    assert noise["seeds"] == 2
    assert noise["seed_sd"] == pytest.approx((4 / 3) ** 0.5)
    assert noise["path_sd"] == pytest.approx(91 ** 0.5)
    assert noise["noise_to_spread"] == pytest.approx((4 / 3) ** 0.5 / 91 ** 0.5)
    single = seed_noise([[80], [70], [90]])
    assert single["seed_sd"] is None and single["path_sd"] == pytest.approx(10.0)


def test_bootstrap_tau_interval_brackets_the_truth_and_is_degenerate_for_perfect_orders():
    same = bootstrap_tau([1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12], resamples=200)
    assert (same["low"], same["high"]) == (1.0, 1.0)
    reversed_ = bootstrap_tau([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1], resamples=200)
    assert (reversed_["low"], reversed_["high"]) == (-1.0, -1.0)
    rng = np.random.default_rng(1)
    a = rng.normal(size=40)
    b = a + rng.normal(size=40)
    ci = bootstrap_tau(a, b, resamples=500)
    tau = stats.kendalltau(a, b).statistic
    assert ci["low"] < tau < ci["high"] and ci["high"] - ci["low"] < 0.6 and ci["valid_resamples"] == 500
