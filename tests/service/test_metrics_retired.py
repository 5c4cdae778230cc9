"""/metrics' histograms are counters to Prometheus, which reads one that goes down as a restart
(a ``rate`` over it jumps by the whole count). Deleting a study deleted its trials from
``regtune_trial_duration_seconds`` and ``regtune_claim_latency_seconds``: their counts fell by
the study's trials, in every process. They now stay as they were, in the process that saw the
study and in one that never did."""

from __future__ import annotations

import threading
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from regtune.service.store.clock import utcnow
from regtune.service.store.reads import at_once, read
from regtune.service.store.repos import cancel_and_delete
from regtune.service.store.trials.stats import TrialStats
from tests.inprocess import Apps, run_to_the_end
from tests.service.test_client_optuna import STUDY

HISTOGRAMS = ("regtune_trial_duration_seconds", "regtune_claim_latency_seconds")


def scraped(api: TestClient) -> tuple[dict[Any, float], dict[str, float]]:
    """The histograms' samples, and the trials by state."""
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    samples, trials = {}, {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if family.name in HISTOGRAMS:
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
            elif family.name == "regtune_trials":
                trials[sample.labels["state"]] = sample.value
    return samples, trials


def fresh_process_counts() -> dict[str, int]:
    """The finished trials counted by a process that starts now: its tallies read afresh."""
    stats = TrialStats()
    now = read(lambda s: at_once(s, lambda s: stats.snapshot(s, now=utcnow(), grace=20)))
    return {state: sum(h.counts) for state, h in now.durations.items()}


def finished(api: TestClient, name: str) -> dict[str, Any]:
    created = api.post("/v1/studies", json=STUDY | {"name": name})
    assert created.status_code == 201, created.text
    return run_to_the_end(api, created.json()["id"])


def test_deleting_studies_lowers_no_histogram(apps: Apps, database_url: str) -> None:
    api = apps(database_url=database_url, sweep_interval=3600)
    kept, *deleted = (finished(api, name) for name in ("kept", "deleted-1", "deleted-2"))
    before, trials_before = scraped(api)
    counted = {s[1][0][1]: v for s, v in before.items() if s[0].endswith("duration_seconds_count")}
    assert sum(counted.values()) == 9

    # two at once: each adds its study's tallies to the one row the other also adds to
    threads = [threading.Thread(target=cancel_and_delete.delete, args=(s["id"],)) for s in deleted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(api.get(f"/v1/studies/{s['id']}").status_code == 404 for s in deleted)

    after, trials_after = scraped(api)
    assert after.keys() == before.keys()
    for sample, value in before.items():
        assert after[sample] == pytest.approx(value, rel=1e-12), sample
    assert sum(trials_after.values()) == sum(trials_before.values()) - 6  # stored trials: a gauge
    assert fresh_process_counts() == counted
    assert api.get(f"/v1/studies/{kept['id']}").status_code == 200


def test_a_sweep_during_a_delete_lowers_no_histogram(
    apps: Apps, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep that ran while a delete was deleting the Optuna study (seconds, for a big one)
    took the row, cancelled with no Optuna study, for a study deleted in optuna-dashboard: it
    removed the row without its tallies, and the histograms fell by the study's trials."""
    from regtune.service.store.scheduling import sweep

    api = apps(database_url=database_url, sweep_interval=3600)
    finished(api, "kept")
    deleted = finished(api, "deleted")
    before, _ = scraped(api)
    delete_study = optuna.delete_study

    def with_a_sweep_meanwhile(**kwargs: Any) -> None:
        delete_study(**kwargs)
        sweep.remove_studies_deleted_in_optuna()  # as the sweep of any process may, now

    monkeypatch.setattr(cancel_and_delete.optuna, "delete_study", with_a_sweep_meanwhile)
    cancel_and_delete.delete(deleted["id"])
    after, _ = scraped(api)
    for sample, value in before.items():
        assert after[sample] == pytest.approx(value, rel=1e-12), sample
