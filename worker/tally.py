"""The worker's tally: the claims it took and the trials it wrote, for the line it ends with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Tally:
    """What a worker did, for its closing line: the slots it claimed and the Optuna trials it
    wrote, which a λ path's claim (one trial per point) and a fused claim (one per member)
    make many more than claims."""

    claims: int = 0
    trials: int = 0
    """Trials started (whatever their end: a handed-back one is a FAIL row too) and a λ path's
    further points."""
    paths: int = 0
    path_trials: int = 0
    """The trials of ``paths``: each path's own trial and its further points."""

    def path_written(self, points: int) -> None:
        self.paths += 1
        self.trials += points
        self.path_trials += points + 1

    def __str__(self) -> str:
        text = f"{self.trials} {_plural(self.trials, 'trial')} written in {self.claims} " + (
            _plural(self.claims, "claim")
        )
        if self.paths:
            text += f" ({self.path_trials} of them on {self.paths} λ {_plural(self.paths, 'path')})"
        return text


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
