"""Name → Optuna sampler and pruner, rebuilt from the stored definition for every trial.

Optuna stores neither, so each claimed trial rebuilds them. The sampler seed is mixed with the
claim's sequence number: a fresh sampler with the same seed on every trial would propose the
same startup points again and again. Each choice is an exhaustive ``match``: a kind the
definition admits but this module does not build fails type checking, and at run time raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

import optuna

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.policies import (
    CmaEsSampler,
    GPSampler,
    GridSampler,
    HyperbandPruner,
    InnerPruner,
    MedianPruner,
    NoPruner,
    NSGAIISampler,
    PatientPruner,
    PercentilePruner,
    QMCSampler,
    RandomSampler,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    TPESampler,
)
from regtune.service.spec.space import ARCHITECTURE, KNOBS, grid_values
from regtune.service.store.optuna_db.internals.pruner import KeyedHyperbandPruner


class BudgetedGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid, without its ``study.stop()`` once the grid is told: a grid study's
    ``n_trials`` is its grid's size, so the budget ends it, and a fused pass tells its members
    outside ``optimize``, where that call raises (it failed the pass's other members)."""

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None


def make_sampler(spec: StudySpec, *, claim_seq: int = 0) -> optuna.samplers.BaseSampler:
    config = spec.sampler
    seed = None if config.seed is None else (config.seed * 1_000_003 + claim_seq) % (2**31 - 1)
    match config:
        case TPESampler():
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=config.n_startup_trials,
                multivariate=config.multivariate,
                constant_liar=config.constant_liar,
            )
        case RandomSampler():
            return optuna.samplers.RandomSampler(seed=seed)
        case GridSampler():
            space = {
                name: grid_values(param, KNOBS[name])
                for name, param in spec.search_space.searched()
            }
            architectures = spec.search_space.hidden_layers
            if architectures is not None:
                space[ARCHITECTURE] = list(architectures.labels)
            # one order of the grid for every claim: a trial's grid_id (its number) indexes the
            # sampler's shuffled grid, so claims shuffling apart repeat points and skip others
            return BudgetedGridSampler(space, seed=config.seed or 0)
        case GPSampler():
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=config.n_startup_trials)
        case CmaEsSampler():
            return optuna.samplers.CmaEsSampler(
                seed=seed, n_startup_trials=config.n_startup_trials, sigma0=config.sigma0
            )
        case NSGAIISampler():
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=config.population_size)
        case QMCSampler():
            return optuna.samplers.QMCSampler(
                seed=seed, qmc_type=config.qmc_type, scramble=config.scramble
            )
        case _:
            assert_never(config)


def _inner_pruner(
    config: InnerPruner, max_epochs: int, seed: int | None
) -> optuna.pruners.BasePruner:
    """``seed``: the study's stored sampler seed, which places Hyperband's trials in brackets."""
    match config:
        case PercentilePruner():  # before MedianPruner, its base class
            return optuna.pruners.PercentilePruner(
                config.percentile,
                n_startup_trials=config.n_startup_trials,
                n_warmup_steps=config.n_warmup_steps,
                interval_steps=config.interval_steps,
            )
        case MedianPruner():
            return optuna.pruners.MedianPruner(
                n_startup_trials=config.n_startup_trials,
                n_warmup_steps=config.n_warmup_steps,
                interval_steps=config.interval_steps,
            )
        case SuccessiveHalvingPruner():
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=config.min_resource,
                reduction_factor=config.reduction_factor,
                min_early_stopping_rate=config.min_early_stopping_rate,
            )
        case HyperbandPruner():
            max_resource = max_epochs if config.max_resource == "auto" else config.max_resource
            options = {
                "min_resource": config.min_resource,
                "max_resource": max(max_resource, config.min_resource + 1),
                "reduction_factor": config.reduction_factor,
            }
            if seed is None:  # a study stored before seeds were: Optuna's own brackets
                return optuna.pruners.HyperbandPruner(**options)
            return KeyedHyperbandPruner(key=f"seed-{seed}", **options)
        case ThresholdPruner():
            return optuna.pruners.ThresholdPruner(
                lower=config.lower, upper=config.upper, n_warmup_steps=config.n_warmup_steps
            )
        case _:
            assert_never(config)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    config = spec.pruner
    max_epochs, seed = spec.epoch_budget, spec.sampler.seed
    match config:
        case NoPruner():
            return optuna.pruners.NopPruner()
        case PatientPruner():
            wrapped = _inner_pruner(config.wrapped, max_epochs, seed) if config.wrapped else None
            return optuna.pruners.PatientPruner(
                wrapped, patience=config.patience, min_delta=config.min_delta
            )
        case (
            MedianPruner()
            | PercentilePruner()
            | SuccessiveHalvingPruner()
            | HyperbandPruner()
            | ThresholdPruner()
        ):
            return _inner_pruner(config, max_epochs, seed)
        case _:
            assert_never(config)
