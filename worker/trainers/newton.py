"""Newton's method on a support: the cross-entropy path's fast step.

Along a fine λ grid the support (which weights are non-zero) and their signs rarely change from
one point to the next. On a fixed support with fixed signs the elastic-net objective is smooth:
the l1 term is the linear s·w, so Newton's method converges in a few steps where the proximal
gradient takes hundreds (glmnet's inner loop rests on the same fact). The result is taken only
if it is the minimizer of the whole problem: no sign crossed zero and dist(0, ∂F) ≤ ``tol``,
the rule every point of a path meets; otherwise the caller goes on with the proximal gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from regtune.worker.trainers.fista import distance_to_optimality

MAX_UNKNOWNS = 400
"""Largest system solved (entries of W on the support, plus the intercepts): its Hessian costs
O(n · unknowns²) to form, beyond which the proximal gradient's O(n · d) iterations are cheaper."""
STEPS = 12
"""Newton steps tried before the proximal gradient takes over."""


def newton_on_support(
    X: torch.Tensor,
    target: torch.Tensor,
    P: torch.Tensor,
    *,
    binary: bool,
    l1: float,
    l2: torch.Tensor,
    tol: float,
    tries: int = 4,
) -> torch.Tensor | None:
    """The minimizer of mean cross-entropy(X Pᵀ) + ½ Σ l2 P² + l1 |W|, found from ``P`` by
    Newton's method on the support, or None if it is not found there.

    ``X`` (n, d + 1) ends with a column of ones and ``l2`` (d + 1) with a 0; ``P`` = [W | b]
    is (n_out, d + 1). Without an l1 term every weight is free. With one, weights at 0 that
    break the KKT condition |∇f| ≤ l1 enter the support with the sign that lowers F, and steps
    are projected on the orthant of the signs (OWL-QN's projection: a weight that would cross
    zero stops at 0 and leaves); ``tries`` rounds of entering at most."""
    d = X.shape[1] - 1
    free = torch.ones_like(P, dtype=torch.bool)
    signs = torch.sign(P)
    signs[:, d] = 0  # b is never penalized
    if l1 > 0:
        free[:, :d] = P[:, :d] != 0
    point = P.clone()
    for _ in range(tries):
        if l1 > 0:
            gradient = _gradient(X, target, point, binary=binary, l2=l2)
            entering = ~free & (gradient.abs() > l1)
            entering[:, d] = False
            free |= entering
            signs = torch.where(entering, -torch.sign(gradient), signs)
        found = _on_orthant(X, target, point, free, signs, binary=binary, l1=l1, l2=l2, tol=tol)
        if found is None:
            return None
        if not binary:  # softmax ignores a shift of every b: keep theirs (the damping drifts)
            found[:, d] += P[:, d].mean() - found[:, d].mean()
        point = found
        free &= (point != 0) | (signs == 0)
        if _optimality(X, target, point, binary=binary, l1=l1, l2=l2) <= tol:
            return point
    return None


def _on_orthant(
    X: torch.Tensor,
    target: torch.Tensor,
    P: torch.Tensor,
    free: torch.Tensor,
    signs_of: torch.Tensor,
    *,
    binary: bool,
    l1: float,
    l2: torch.Tensor,
    tol: float,
) -> torch.Tensor | None:
    """Newton's method with the weights outside ``free`` held at 0 and the others kept on the
    side of 0 ``signs_of`` gives them (those stopped at 0 leave) → the point reached, or None
    if the system is too large or singular."""
    n = len(X)
    used = free.any(0)  # the columns of X some free entry multiplies; the intercept's is last
    Xs, Ps, l2s, signs = X[:, used], P[:, used].clone(), l2[used], signs_of[:, used]
    fs = free[:, used]
    if int(fs.sum()) > MAX_UNKNOWNS:
        return None
    keep_side = signs != 0 if l1 > 0 else torch.zeros_like(fs)

    def value(Q: torch.Tensor) -> tuple[float, torch.Tensor]:
        """F at Q, and Q's logits (the next step starts from them if Q is taken)."""
        logits = Xs @ Q.T
        partition = F.softplus(logits[:, 0]) if binary else torch.logsumexp(logits, dim=1)
        data = partition.mean() - (logits * target).sum() / n
        return float(data + 0.5 * (l2s * Q * Q).sum() + l1 * (signs * Q).sum()), logits

    def moved(t: float, step: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        Q = Ps.clone()
        Q.view(-1)[index] += t * step
        return torch.where(keep_side & (torch.sign(Q) != signs), torch.zeros_like(Q), Q)

    current, logits = value(Ps)
    for _ in range(STEPS):
        index = torch.nonzero(fs.flatten()).flatten()
        prob = torch.sigmoid(logits) if binary else torch.softmax(logits, dim=1)
        gradient = ((prob - target).T @ Xs / n + l2s * Ps + l1 * signs).flatten()[index]
        if float(torch.linalg.vector_norm(gradient)) <= tol / 4:
            break
        hessian = _hessian(Xs, prob, binary, index)
        diagonal = hessian.diagonal()  # a view: the ridge and the damping added in place
        diagonal += l2s.repeat(len(Ps))[index]
        diagonal += 1e-10 * (1.0 + float(diagonal.max()))
        try:
            step = -torch.linalg.solve(hessian, gradient)
        except RuntimeError:  # singular even with the damping: leave it to the gradient steps
            return None
        t, trial = 1.0, moved(1.0, step, index)
        # Armijo backtracking on the projected point (sufficient decrease from its own move)
        while (found := value(trial))[0] > current + 1e-4 * float(
            gradient @ (trial - Ps).flatten()[index]
        ):
            t /= 2
            if t < 1e-6:  # no progress on this orthant: the caller looks at the KKT conditions
                return _placed(P, used, Ps)
            trial = moved(t, step, index)
        Ps, (current, logits) = trial, found
        fs = fs & ((Ps != 0) | ~keep_side)  # weights stopped at 0 leave the support
    return _placed(P, used, Ps)


def _placed(P: torch.Tensor, used: torch.Tensor, Ps: torch.Tensor) -> torch.Tensor:
    """``Ps`` (the used columns) back in a matrix shaped like ``P``, zeros elsewhere."""
    whole = torch.zeros_like(P)
    whole[:, used] = Ps
    return whole


def _hessian(
    X: torch.Tensor, prob: torch.Tensor, binary: bool, index: torch.Tensor | None = None
) -> torch.Tensor:
    """The cross-entropy's Hessian in P's entries ``index`` (positions in P flattened, class by
    class: k·c + a; None: every entry), for X (n, c): entry ((k, a), (l, b)) is
    mean_i X_ia X_ib p_ik (δ_kl − p_il); logistic: mean_i X_ia X_ib p_i (1 − p_i).

    Formed over those entries alone, m of them: with W = [p_ik X_ia] (n, m) and A = [X_ia]
    (n, m), the sum is WᵀA where k = l, less WᵀW; n·m numbers and m² (was: every class × column
    first, n·k·c and (k·c)² twice, then the entries taken: 50 classes × 400 columns of 20,000
    rows were 3 GB for a system of 400)."""
    n, c = X.shape
    k = prob.shape[1]
    if index is None:
        index = torch.arange(k * c)
    if binary:
        columns = X[:, index]
        p = prob[:, 0]
        return (columns.T * (p * (1 - p))) @ columns / n
    classes, inputs = index // c, index % c
    A = X[:, inputs]
    W = prob[:, classes] * A
    hessian = -(W.T @ W)
    same = classes[:, None] == classes[None, :]
    hessian += torch.where(same, W.T @ A, torch.zeros((), dtype=A.dtype))
    return hessian / n


def _gradient(
    X: torch.Tensor, target: torch.Tensor, P: torch.Tensor, *, binary: bool, l2: torch.Tensor
) -> torch.Tensor:
    logits = X @ P.T
    prob = torch.sigmoid(logits) if binary else torch.softmax(logits, dim=1)
    return (prob - target).T @ X / len(X) + l2 * P


def _optimality(
    X: torch.Tensor,
    target: torch.Tensor,
    P: torch.Tensor,
    *,
    binary: bool,
    l1: float,
    l2: torch.Tensor,
) -> float:
    """dist(0, ∂F) at P over every weight: ``Fista.optimality``'s rule."""
    gradient = _gradient(X, target, P, binary=binary, l2=l2)
    return distance_to_optimality(P, gradient, l1=l1, n_features=X.shape[1] - 1)
