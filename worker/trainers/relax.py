"""The relaxed elastic net: less shrinkage on the features the penalty selected.

The L1 part of the penalty does two jobs at once: it selects features and it shrinks the
selected ones towards 0. With many noise features the λ that keeps them out also shrinks the
true ones, and cross-validation settles on a compromise. The relaxed fit (Meinshausen, 2007;
glmnet's ``relax = TRUE``) separates the two: on the support S of the elastic net's solution w,
the least-squares fit w_S (the data term alone, plus the inputs' fixed ridge from dropout or
input noise), and the model

    (1 − relax) · w + relax · w_S

``relax`` 0 is the elastic net, 1 least squares on the features it selected; the support is the
elastic net's either way. glmnet's γ is 1 − relax. Hastie, Tibshirani & Tibshirani (2020) found
the relaxed lasso the best of lasso, best subset and stepwise selection over a wide range of
signal-to-noise ratios; ``bench.quality`` measures it against scikit-learn's CV estimators
(bench/RESULTS.md, "Tuned quality").

Least squares only: on separable classes the cross-entropy has no finite minimizer on a support.
"""

from __future__ import annotations

import numpy as np


def least_squares_on_support(
    gram: np.ndarray, cross: np.ndarray, weight: np.ndarray, input_l2: np.ndarray
) -> np.ndarray:
    """argmin ½ vᵀ(G + diag(l2))v − cᵀv over v with v_j = 0 off ``weight``'s support.

    ``gram`` (d, d) and ``cross`` (d,) are the centered XᵀX/n and Xᵀy/n of the training rows,
    ``weight`` (d,) the elastic net's solution. A singular system (collinear features on the
    support, more of them than rows) takes the least-norm solution."""
    support = np.flatnonzero(weight)
    fitted = np.zeros_like(weight)
    if len(support):
        system = gram[np.ix_(support, support)] + np.diag(input_l2[support])
        try:
            solved = np.linalg.solve(system, cross[support])  # a few µs; lstsq's SVD, tens
        except np.linalg.LinAlgError:
            solved = np.linalg.lstsq(system, cross[support], rcond=None)[0]
        fitted[support] = solved
    return fitted


def relaxed(
    gram: np.ndarray, cross: np.ndarray, weight: np.ndarray, input_l2: np.ndarray, relax: float
) -> np.ndarray:
    """The relaxed model's weights (d,): ``weight`` moved ``relax`` of the way to the least
    squares on its support."""
    if relax == 0:
        return weight
    fitted = least_squares_on_support(gram, cross, weight, input_l2)
    return (1 - relax) * weight + relax * fitted


class SupportFits:
    """The folds' ``least_squares_on_support``, remembered for each fold's last support: along a
    λ path the supports change at a few points only, and a fit depends on its support alone."""

    def __init__(self, grams: np.ndarray, crosses: np.ndarray, input_l2: np.ndarray) -> None:
        """``grams`` (folds, d, d), ``crosses`` and ``input_l2`` (folds, d)."""
        self.grams, self.crosses, self.input_l2 = grams, crosses, input_l2
        self._supports = np.zeros(crosses.shape, dtype=bool)
        self._fits = np.zeros_like(crosses)

    def least_squares(self, weights: np.ndarray) -> np.ndarray:
        """Each fold's least squares on the support of its ``weights`` (folds, d)."""
        supports = weights != 0
        changed = np.flatnonzero((supports != self._supports).any(1))
        if len(changed):
            self._fits[changed] = self._solved(changed, supports[changed], weights[changed])
        self._supports = supports
        return self._fits

    def _solved(self, folds: np.ndarray, supports: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The fits of ``folds`` on their ``supports``, in one batched solve: the rows and columns
        off a support replaced by the identity's, so they solve to 0 (as ``_SupportsTogether``
        in ``path``); a singular one makes each fold solve alone."""
        d = supports.shape[1]
        both = supports[:, :, None] & supports[:, None, :]
        hessian = self.grams[folds] + self.input_l2[folds][:, :, None] * np.eye(d)
        system = np.where(both, hessian, np.eye(d))
        rhs = np.where(supports, self.crosses[folds], 0.0)
        try:
            return np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return np.stack(
                [
                    least_squares_on_support(self.grams[f], self.crosses[f], w, self.input_l2[f])
                    for f, w in zip(folds, weights, strict=True)
                ]
            )
