"""Alignment: the residual basis between two models, and their layers over depth."""

from __future__ import annotations

import numpy as np

# Dynamic-programming costs, in units of cosine similarity between layers.
SKIP_COST = 0.02
BACK_COST = 0.05


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Orthogonal R minimising ||x R - y|| (rows matched); see procrustes_factors."""
    a, b = procrustes_factors(x, y)
    return a @ b


def procrustes_factors(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R = a @ b, the orthogonal map minimising ||x R - y||, as two factors.

    With fewer rows m than dimensions d (a large model's anchor tokens), x^T y has rank m
    and R is only determined on the span of the rows: the solution is then the partial
    isometry on that span (the rest of any completion would be arbitrary), from two thin
    QRs and an m x m SVD instead of the SVD of a d x d matrix (7 s at d = 2560); applied
    as (z @ a) @ b it never forms the d x d matrix.
    """
    m, d = x.shape
    if m >= d:
        u, _, vt = np.linalg.svd(x.T @ y, full_matrices=False)
        return u, vt
    qx, rx = np.linalg.qr(x.T)  # x = rx^T qx^T
    qy, ry = np.linalg.qr(y.T)
    u, _, vt = np.linalg.svd(rx @ ry.T)
    return qx @ u, vt @ qy.T


def permutation_likeness(r: np.ndarray) -> float:
    """1.0 for a signed permutation matrix; about sqrt(2 ln d / d) for a random rotation."""
    if r.size == 0:
        return 0.0
    return float(np.abs(r).max(axis=1).mean())


def assignment_of(r: np.ndarray) -> np.ndarray:
    """The permutation closest to an orthogonal matrix (linear assignment on |R|)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-np.abs(r))
    out = np.empty(r.shape[0], dtype=np.int64)
    out[rows] = cols
    return out


def layer_map(sim: np.ndarray) -> tuple[list[int], float]:
    """For each layer j of B, the layer of A it comes from; maximises total similarity.

    sim[i, j] compares A's layer i with B's layer j. Moving to the next layer of A is free;
    skipping A's layers (pruning) costs SKIP_COST each, going back (a duplicated or reused
    layer, as in depth up-scaling) costs BACK_COST, so noise alone keeps the plain order.
    """
    la, lb = sim.shape
    if la == 0 or lb == 0:
        return [], 0.0
    best = np.full((lb, la), -np.inf)
    prev = np.zeros((lb, la), dtype=np.int64)
    best[0] = sim[:, 0] - SKIP_COST * np.arange(la)
    idx = np.arange(la)
    for j in range(1, lb):
        # cost of moving from i' to i
        step = idx[None, :] - idx[:, None]  # [i', i]
        cost = np.where(step == 1, 0.0, np.where(step > 1, SKIP_COST * (step - 1), BACK_COST))
        total = best[j - 1][:, None] - cost
        prev[j] = total.argmax(axis=0)
        best[j] = total.max(axis=0) + sim[:, j]
    path = [int(best[-1].argmax())]
    for j in range(lb - 1, 0, -1):
        path.append(int(prev[j][path[-1]]))
    path.reverse()
    # The median over depth: a derived model shares every mapped layer, while the similarity
    # that independent training on the same text brings sits in a few (the first) layers.
    score = float(np.median([sim[i, j] for j, i in enumerate(path)]))
    return path, score
