"""Metrics that tell models apart, as plain functions of tensors (see README, "Choosing metrics")."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` in [0, 1] for an accuracy of ``correct`` of ``n``
    (z 1.96: 95%); better than the normal interval near 0 and 1 (Wilson 1927, "Probable
    inference, the law of succession, and statistical inference", JASA 22). ``n`` 0 gives the
    uninformative ``(0.0, 1.0)``."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def error_rate(logits: Tensor, labels: Tensor) -> dict:
    """Top-1 accuracy of ``logits`` ``(N, C)`` against ``labels`` ``(N,)`` int: ``correct``, ``n``,
    ``accuracy`` and ``error`` (fractions in [0, 1]) and ``error_ci95``, the Wilson interval of the
    error. Raises ZeroDivisionError for N 0."""
    correct = int((logits.argmax(1) == labels).sum())
    n = labels.numel()
    lo, hi = wilson_interval(correct, n)
    return {"correct": correct, "n": n, "accuracy": correct / n, "error": 1 - correct / n, "error_ci95": [1 - hi, 1 - lo]}


def nll(logits: Tensor, labels: Tensor) -> float:
    """Mean negative log-likelihood in nats of ``labels`` ``(N,)`` under softmax(``logits``
    ``(N, C)``), in float64 (the seed's "Average loss")."""
    return F.cross_entropy(logits.double(), labels, reduction="mean").item()


def ece(logits: Tensor, labels: Tensor, bins: int = 15) -> float:
    """Expected calibration error of ``logits`` ``(N, C)`` against ``labels`` ``(N,)``: the
    gap between top-class confidence and accuracy in each of ``bins`` equal-width bins (each open
    on the left, closed on the right: (0, 1/bins], ...), weighted by the bin's share of the N
    samples; a fraction in [0, 1]. Naeini et al. 2015 (AAAI, "Obtaining well calibrated
    probabilities using Bayesian binning"); 15 bins as in Guo et al. 2017 ("On calibration of
    modern neural networks", ICML, section 2)."""
    probs = logits.double().softmax(1)
    conf, pred = probs.max(1)
    hit = (pred == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    total = torch.zeros((), dtype=torch.float64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.double().mean() * (conf[m].mean() - hit[m].mean()).abs()
    return total.item()


def confidence(logits: Tensor) -> float:
    """Mean top-class probability, in [1/C, 1]. Beside ECE it says which way a model is off:
    confidence below the accuracy is under-confidence. Label smoothing with weight eps leaves that
    mark: its loss is lowest at probability 1 - eps + eps/C on the true class (0.91 for eps 0.1 and
    10 classes), so a model right 99% of the time sits near 0.9 confidence and ECE ~0.09 whatever its
    head (Mueller et al. 2019, "When does label smoothing help?", section 3, on smoothing and
    calibration)."""
    return logits.double().softmax(1).max(1).values.mean().item()


def curve_auc(xs: list[float], accs: list[float]) -> float:
    """Area under an accuracy curve (trapezoids), divided by the x-range ``xs[-1] - xs[0]``, so
    in the units of ``accs`` (1.0: right everywhere). ``xs`` ascending, at least two points; fewer
    raise ZeroDivisionError or IndexError."""
    area = sum((x1 - x0) * (a0 + a1) / 2 for x0, x1, a0, a1 in zip(xs[:-1], xs[1:], accs[:-1], accs[1:]))
    return area / (xs[-1] - xs[0])


def agreement(preds: Tensor) -> float:
    """Invariance: ``preds`` ``(N, K)`` holds each digit's predictions on K transformed copies;
    returns the mean share of copies that agree with the digit's most common prediction."""
    mode = preds.mode(dim=1).values
    return (preds == mode[:, None]).double().mean().item()


def matrix_error(pred_matrix: Tensor, gt_matrix: Tensor, target: Tensor) -> Tensor:
    """``(N,)`` Frobenius distance between the composed sampling map ``gt_matrix @ pred_matrix``
    (the ground-truth distortion after the head's warp; each ``(N, 3, 3)`` homogeneous, in
    normalised [-1, 1] coordinates) and ``target`` ``(N, 3, 3)``, the map a perfect rectifier would
    give; each matrix is divided by its [2, 2] entry first (homographies are defined up to scale)."""
    m = gt_matrix @ pred_matrix
    m = m / m[:, 2:, 2:]  # homographies are defined up to scale
    t = target / target[:, 2:, 2:]
    return (m - t).flatten(1).norm(dim=1)
