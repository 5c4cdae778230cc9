"""Name → Optuna sampler and pruner, rebuilt from the stored definition for every trial.

Optuna stores neither, so each claimed trial rebuilds them. The sampler seed is mixed with the
claim's sequence number: a fresh sampler with the same seed on every trial would propose the
same startup points again and again.
"""

from __future__ import annotations

import optuna

from service.spec import definition as s


def make_sampler(spec: s.StudySpec, *, claim_seq: int = 0) -> optuna.samplers.BaseSampler:
    config = spec.sampler
    seed = None if config.seed is None else (config.seed * 1_000_003 + claim_seq) % (2**31 - 1)
    if isinstance(config, s.TPESampler):
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=config.n_startup_trials,
            multivariate=config.multivariate,
            constant_liar=config.constant_liar,
        )
    if isinstance(config, s.RandomSampler):
        return optuna.samplers.RandomSampler(seed=seed)
    if isinstance(config, s.GridSampler):
        space = {name: s.grid_values(param) for name, param in spec.search_space.searched()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if isinstance(config, s.GPSampler):
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=config.n_startup_trials)
    if isinstance(config, s.CmaEsSampler):
        return optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=config.n_startup_trials, sigma0=config.sigma0
        )
    if isinstance(config, s.NSGAIISampler):
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=config.population_size)
    return optuna.samplers.QMCSampler(seed=seed, qmc_type=config.qmc_type, scramble=config.scramble)


def _inner_pruner(config: object, max_epochs: int) -> optuna.pruners.BasePruner:
    if isinstance(config, s.PercentilePruner):
        return optuna.pruners.PercentilePruner(
            config.percentile,
            n_startup_trials=config.n_startup_trials,
            n_warmup_steps=config.n_warmup_steps,
            interval_steps=config.interval_steps,
        )
    if isinstance(config, s.MedianPruner):
        return optuna.pruners.MedianPruner(
            n_startup_trials=config.n_startup_trials,
            n_warmup_steps=config.n_warmup_steps,
            interval_steps=config.interval_steps,
        )
    if isinstance(config, s.SuccessiveHalvingPruner):
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=config.min_resource,
            reduction_factor=config.reduction_factor,
            min_early_stopping_rate=config.min_early_stopping_rate,
        )
    if isinstance(config, s.HyperbandPruner):
        max_resource = max_epochs if config.max_resource == "auto" else config.max_resource
        return optuna.pruners.HyperbandPruner(
            min_resource=config.min_resource,
            max_resource=max(max_resource, config.min_resource + 1),
            reduction_factor=config.reduction_factor,
        )
    if isinstance(config, s.ThresholdPruner):
        return optuna.pruners.ThresholdPruner(
            lower=config.lower, upper=config.upper, n_warmup_steps=config.n_warmup_steps
        )
    return optuna.pruners.NopPruner()


def make_pruner(spec: s.StudySpec) -> optuna.pruners.BasePruner:
    config = spec.pruner
    max_epochs = spec.training.max_epochs
    if isinstance(config, s.PatientPruner):
        wrapped = _inner_pruner(config.wrapped, max_epochs) if config.wrapped else None
        return optuna.pruners.PatientPruner(
            wrapped, patience=config.patience, min_delta=config.min_delta
        )
    return _inner_pruner(config, max_epochs)
