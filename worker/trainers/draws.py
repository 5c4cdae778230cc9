"""Each fused member's own random draws: input noise and dropout masks.

A member's generators are seeded from the training seed alone and it draws only for itself
(nothing when its own rate is 0), so it sees the same noise and masks whichever members it is
stacked with, in whatever order, however many leave the stack: a trial's result is a function of
its configuration, never of the trials it was fused with. (Drawing once for the whole stack gave a
member the numbers at its position in that draw, so its result moved with its companions.)
Masks are drawn by numpy (PCG64: K draws of a member's units cost less than one torch draw for
the stack), noise by torch (numpy's float32 normals cost twice torch's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

NOISE_STREAM = 1
DROPOUT_STREAM = 2
"""Offsets of the seeds of the noise and dropout generators from the training seed."""


class MemberDraws:
    """One noise and one dropout generator per member, in the stack's order."""

    def __init__(self, seed: int, members: int) -> None:
        self.noise = [torch.Generator().manual_seed(seed + NOISE_STREAM) for _ in range(members)]
        self.dropout = [np.random.default_rng([seed, DROPOUT_STREAM]) for _ in range(members)]

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the members at ``index`` (in that order), as ``StackedMLP.keep`` does."""
        self.noise = [self.noise[i] for i in index]
        self.dropout = [self.dropout[i] for i in index]

    def noisy(self, inputs: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """(K, rows, in): the batch's rows plus each member's own Gaussian noise of std ``std[k]``
        (a member with 0 draws nothing and gets the rows as they are)."""
        draw = torch.zeros((len(self.noise), *inputs.shape), dtype=inputs.dtype)
        for k, (generator, scale) in enumerate(zip(self.noise, std.tolist(), strict=True)):
            if scale > 0:
                draw[k].normal_(generator=generator)
        return inputs + std.view(-1, 1, 1) * draw

    def uniforms(self, shape: torch.Size, rate: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(K, rows, units) uniform draws for each member's dropout mask (a unit is kept where
        its draw is ≥ the member's rate); 1 everywhere for a member whose rate is 0."""
        draw = torch.ones(shape, dtype=dtype)
        values = draw.numpy()
        for k, (generator, p) in enumerate(zip(self.dropout, rate.tolist(), strict=True)):
            if p > 0:
                generator.random(dtype=values.dtype, out=values[k])
        return draw
