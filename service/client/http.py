"""A typed Python client for the regtune API, over httpx. The CLI is built on it.

    from regtune.service.client.http import Client

    with Client("http://127.0.0.1:8000", key=None) as rt:
        study = rt.submit(Path("examples/diabetes-enet.yaml"))
        done = rt.wait(study.id)
        if done.best_trial:
            print(done.best_trial.value, done.best_trial.params)
        rt.download_best_model(study.id, "model.safetensors")

Answers are the API's own response models (``regtune.service.api.schemas``: ``StudyOut``,
``TrialOut``, ``StudyPage``...), parsed and typed; ``model_dump(mode="json")`` gives back the API's
JSON. Every error answer of the API raises ``ApiError`` (status, machine-readable code, message and
the field paths at fault); an unreachable server raises ``ApiUnreachable``, and a request sent
whose answer never came (a timeout, a connection broken off) its ``ApiDidNotAnswer``: it may or
may not have been done; a URL, key, id or number the client cannot send raises
``InvalidArgument`` before any request, and a request of a closed client ``ClientClosed``. They
are ``regtune.service.client.errors``'s (the public ones ``regtune``'s too: ``regtune.ApiError``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import TypeAdapter

from regtune.service.api.schemas.best import BestTrial
from regtune.service.api.schemas.datasets import DatasetOut, DatasetPage
from regtune.service.api.schemas.keys import KeyOut, NewKey
from regtune.service.api.schemas.studies import TENANTS_HEADER, ExtendedStudy, StudyOut, StudyPage
from regtune.service.api.schemas.trials import TrialOut, TrialPage
from regtune.service.api.schemas.workers import WORKERS_SCOPE_HEADER, WorkerOut
from regtune.service.client.arguments import (
    DEFAULT_URL,
    api_url,
    header_key,
    hold_seconds,
    item_path,
    setting_name,
    shown_url,
    study_path,
    timeout_seconds,
    trial_number,
)
from regtune.service.client.best_model import no_best_trial
from regtune.service.client.download import save_best_model
from regtune.service.client.errors import UnexpectedAnswer
from regtune.service.client.frame import objective_directions, objective_names
from regtune.service.client.report import fetch_report
from regtune.service.client.saving import into_a_directory
from regtune.service.client.study_bodies import definition_body, extension_body
from regtune.service.client.transport import PageT, Transport, parse, parse_as
from regtune.service.client.upload import send_dataset
from regtune.service.client.waiting import wait_until_final

if TYPE_CHECKING:
    import pandas as pd

PAGE_LIMIT = 500
"""The API's largest page of a listing."""
log = logging.getLogger(__name__)
_WORKERS = TypeAdapter(list[WorkerOut])
_KEYS = TypeAdapter(list[KeyOut])


class Client:
    """One connection pool to one API; ``url``, ``key`` and ``timeout`` (seconds to wait for
    each answer) default to REGTUNE_URL, REGTUNE_KEY and REGTUNE_TIMEOUT (else 30).

    ``close()``, or the end of a ``with`` block, closes its connections for good: a request
    after, or ``with`` again, is ``ClientClosed``; make a new ``Client`` (cheap) to go on. One
    kept for a program's life, without ``with``, holds its connections until ``close()``."""

    page_limit = PAGE_LIMIT
    """Most items the client asks for in one request (a longer listing takes several)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        key: str | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = api_url(
            url or os.environ.get("REGTUNE_URL") or DEFAULT_URL, given_as=setting_name("url", url)
        )
        self.shown_url = shown_url(self.url)
        """``url`` as messages show it: a password in it as ``***``."""
        key = header_key(
            key or os.environ.get("REGTUNE_KEY") or None, given_as=setting_name("key", key)
        )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.keyed = bool(key)
        """Whether the requests carry a key (a tenant's or the admin's)."""
        timeout_given_as = setting_name("timeout", timeout)
        seconds = timeout_seconds(
            timeout if timeout is not None else os.environ.get("REGTUNE_TIMEOUT") or None,
            given_as=timeout_given_as,
        )
        self._api = Transport(
            self.url,
            shown_url=self.shown_url,
            headers=headers,
            timeout=seconds,
            timeout_given_as=timeout_given_as,
            transport=transport,
        )

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Client:
        self._api.pool()  # a closed one says so at once, not at its first request
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _page(
        self, model: type[PageT], path: str, params: dict[str, Any], *, offset: int, limit: int
    ) -> tuple[PageT, httpx.Headers]:
        """The listing's page from ``offset`` on, in requests of at most ``page_limit`` items,
        and the headers of the API's first answer."""
        return self._api.listing(
            model, path, params, offset=offset, limit=limit, page_limit=self.page_limit
        )

    # ------------------------------------------------------------------ studies

    def submit(
        self, definition: dict[str, Any] | str | bytes | Path, *, as_json: bool | None = None
    ) -> StudyOut:
        """Create a study from a mapping, a YAML/JSON file (a ``Path``), YAML/JSON text (a
        ``str``, never taken for a file name), or a file's bytes read already (a pipe, such as
        /dev/stdin, reads only once). A file is sent as its bytes, so the API reads it as UTF-8
        whatever this machine's locale, and says where a file that is not goes wrong; as JSON
        when it is a ``.json`` file or text (or bytes) that is a JSON object (the API then holds
        it to JSON's rules and says what breaks them in JSON's words), else as YAML.
        ``as_json``: sent as JSON (True) or as YAML (False) whatever it looks like (the bytes of
        a ``.json`` file: True)."""
        body = definition_body(definition, as_json=as_json)
        return self._api.answer(StudyOut, "POST", "/v1/studies", **body)

    def study(self, study_id: str, *, fresh: bool = False, hold: float | None = None) -> StudyOut:
        """The study; ``fresh``: as it is now, where an API process may otherwise answer it as
        it read it up to a second ago (``Cache-Control: no-cache``); ``hold``: the server keeps
        its answer up to that many seconds (above 0, at most 60, else ``InvalidArgument``) until the
        study has ended and its best model is saved (``?wait=``)."""
        headers = {"Cache-Control": "no-cache"} if fresh else None
        if hold is None:
            return self._api.answer(StudyOut, "GET", study_path(study_id), headers=headers)
        hold = hold_seconds(hold)  # it lengthens the read's timeout, NaN too
        return self._api.answer(
            StudyOut,
            "GET",
            study_path(study_id),
            headers=headers,
            params={"wait": hold},
            timeout=self._api.held(hold),
        )

    def study_seen(self, study_id: str) -> tuple[StudyOut, bool]:
        """The study, and whether the caller reaches every tenant's studies (the admin key),
        so that it is told whose the study is: the API's ``X-Regtune-Tenants``; from an API
        that does not send it, False."""
        response = self._api.request("GET", study_path(study_id))
        return parse(StudyOut, response), response.headers.get(TENANTS_HEADER) == "all"

    def studies(
        self,
        *,
        status: str | None = None,
        tenant: str | None = None,
        name: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> StudyPage:
        """A page of studies, newest first: the key's tenant's, or with the admin key every
        tenant's (``tenant``: only that one's); ``name``: only the study of that name."""
        return self.studies_seen(
            status=status, tenant=tenant, name=name, offset=offset, limit=limit
        )[0]

    def studies_seen(
        self,
        *,
        status: str | None = None,
        tenant: str | None = None,
        name: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[StudyPage, bool]:
        """``studies``' page, and whether the listing holds every tenant's studies (the admin
        key's, without ``tenant``) rather than one tenant's: the API's ``X-Regtune-Tenants``;
        from an API that does not send it, whether the page holds several tenants' studies."""
        params: dict[str, Any] = {}
        if status:
            params["status"] = status
        if tenant:
            params["tenant"] = tenant
        if name is not None:
            params["name"] = name
        page, headers = self._page(StudyPage, "/v1/studies", params, offset=offset, limit=limit)
        if name is not None and any(s.name != name for s in page.items):
            raise UnexpectedAnswer(
                f"the API at {self.shown_url} does not filter studies by name (it is older than "
                f"this client): look for {name!r} in the whole listing, or upgrade the API"
            )
        scope = headers.get(TENANTS_HEADER)
        every = scope == "all" if scope is not None else len({s.tenant for s in page.items}) > 1
        return page, every

    def trials(
        self, study_id: str, *, state: str | None = None, offset: int = 0, limit: int = 50
    ) -> TrialPage:
        """A page of the study's trials, by number; ``state``: only those in it (``COMPLETE``,
        ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``, in any case)."""
        params: dict[str, Any] = {}
        if state:
            params["state"] = state.upper()  # as an API before it took any case needs
        return self._page(
            TrialPage, study_path(study_id, "trials"), params, offset=offset, limit=limit
        )[0]

    def all_trials(self, study_id: str, *, state: str | None = None) -> list[TrialOut]:
        """Every trial of a study (or those in ``state``), page by page."""
        found: list[TrialOut] = []
        while True:
            page = self.trials(study_id, state=state, offset=len(found), limit=self.page_limit)
            found.extend(page.items)
            if not page.items or len(found) >= page.total:
                return found

    def trials_dataframe(self, study_id: str) -> pd.DataFrame:
        """The study's trials as Optuna's ``Study.trials_dataframe()`` gives them (needs pandas):
        ``number``, ``value_<metric>``, ``datetime_start``, ``datetime_complete``, ``duration``,
        ``params_<name>``, ``user_attrs_<name>``, ``state``."""
        from regtune.service.client.frame import trials_frame

        definition = self.study(study_id).definition
        names, directions = objective_names(definition), objective_directions(definition)
        return trials_frame(self.all_trials(study_id), names, directions)

    def best_params(self, study_id: str) -> dict[str, Any]:
        """The chosen trial's parameters (the API's ``best_trial``, the saved model's), as
        Optuna's ``Study.best_params`` answers: a ``RuntimeError`` for a study of several
        objectives, a ``ValueError`` before a trial has completed. Under ``objective.select:
        one_se`` or the relax margin it may not be Optuna's best trial, the best value."""
        return self._best(study_id).params

    def best_value(self, study_id: str) -> float:
        """The chosen trial's objective value, as Optuna's ``Study.best_value`` answers: a
        ``RuntimeError`` for a study of several objectives, a ``ValueError`` before a trial has
        completed. Under ``objective.select: one_se`` or the relax margin it may be worse than
        Optuna's, the best value."""
        value = self._best(study_id).value
        if value is None:
            raise ValueError(f"study {study_id}'s best trial has no value")
        return value

    def _best(self, study_id: str) -> BestTrial:
        study = self.study(study_id)
        names = objective_names(study.definition)
        if len(names) > 1:  # best_trial is one trial of the front (the best first objective)
            raise RuntimeError(
                f"study {study_id} has {len(names)} objectives ({', '.join(names)}), so no single "
                "best trial: use its Pareto front (the study's pareto_front, Optuna's "
                "Study.best_trials)"
            )
        if study.best_trial is None:
            raise ValueError(no_best_trial(study))
        return study.best_trial

    def trial(self, study_id: str, number: int) -> TrialOut:
        return self._api.answer(
            TrialOut, "GET", study_path(study_id, "trials", trial_number(number))
        )

    def cancel(self, study_id: str) -> StudyOut:
        return self._api.answer(StudyOut, "POST", study_path(study_id, "cancel"))

    def extend(
        self,
        study_id: str,
        n_trials: int | None = None,
        *,
        n_trials_total: int | None = None,
        timeout_s: float | None = None,
        points: list[dict[str, Any]] | None = None,
    ) -> ExtendedStudy:
        """Give the study ``n_trials`` more trials, or a budget of ``n_trials_total`` in all
        (safe to repeat: the budget it is already changes nothing); ``timeout_s``: a new time
        budget from now; ``points``: configurations to run first, each a trial of the grown
        budget (alone, it grows by one per point, by a path's points for one that leaves λ out
        in a λ-path study). A completed or cancelled study is queued again and goes on from its
        trials."""
        body = extension_body(
            n_trials=n_trials, n_trials_total=n_trials_total, timeout_s=timeout_s, points=points
        )
        return self._api.answer(ExtendedStudy, "POST", study_path(study_id, "extend"), json=body)

    def delete(self, study_id: str) -> None:
        self._api.done("DELETE", study_path(study_id))

    def download_best_model(self, study_id: str, path: str | Path) -> Path:
        """Save the best model (safetensors) of a completed study to ``path``; a download that
        breaks off or is interrupted (Ctrl-C) leaves nothing behind, and a file error
        (``FileNotFoundError`` for a directory that does not exist, checked first) names
        ``path``."""
        path = into_a_directory(Path(path), "the best model")
        where = study_path(study_id, "best-model")
        return save_best_model(self._api, where, path, study_id=study_id)

    def report(self, study_id: str, path: str | Path | None = None) -> str:
        """The study report (one self-contained HTML page); also written to ``path`` if given
        (a directory that does not exist is a ``FileNotFoundError`` naming it, before the
        request). A page that is not the study's report (a captive portal's) is
        ``UnexpectedAnswer``, and nothing is written."""
        target = None if path is None else into_a_directory(Path(path), "the report")
        return fetch_report(self._api, study_id, target)

    def workers(self) -> list[WorkerOut]:
        return self.workers_seen()[0]

    def workers_seen(self) -> tuple[list[WorkerOut], bool]:
        """The live workers, and whether they are the whole pool (the admin key's listing, or
        an API's without keys) rather than only those running the key's tenant's trials: the
        API's ``X-Regtune-Workers``; from an API that does not send it, the whole pool unless
        the requests carry a key."""
        response = self._api.request("GET", "/v1/workers")
        listed = parse_as(_WORKERS, response)
        scope = response.headers.get(WORKERS_SCOPE_HEADER)
        return listed, scope == "pool" if scope is not None else not self.keyed

    # ------------------------------------------------------------------ datasets and keys

    def upload_dataset(
        self,
        source: str | Path | pd.DataFrame,
        *,
        target: str,
        task: str = "auto",
        ignore: str | Sequence[str] = (),
        encoding: str | None = None,
        missing_values: str | Sequence[str] = (),
    ) -> DatasetOut:
        """Upload a CSV or Parquet file, or a pandas DataFrame (sent as CSV without its index:
        text stays text, missing values are empty cells; columns of several levels, or a
        feature of category dtype whose categories are numbers, are a ``ValueError`` saying
        what to change), leaving out the ``ignore``d columns;
        the same table, target, ignored columns and marks twice is one dataset. ``encoding``:
        the text encoding of a CSV file that is not UTF-8 (``cp1252`` for Excel's on Windows).
        ``missing_values``: cell texts read as missing besides the built-in ones (``["-",
        "n.a."]``; a str is one mark, as pandas' ``na_values``), for a DataFrame too: its NaN
        are empty cells already, but a frame read from a spreadsheet holds such marks as text.
        Any other ``source`` is a ``TypeError`` naming its type."""
        return send_dataset(
            self._api,
            source,
            target=target,
            task=task,
            ignore=ignore,
            encoding=encoding,
            missing_values=missing_values,
        )

    def datasets(self, *, offset: int = 0, limit: int = 50) -> DatasetPage:
        return self._page(DatasetPage, "/v1/datasets", {}, offset=offset, limit=limit)[0]

    def dataset(self, dataset_id: str) -> DatasetOut:
        return self._api.answer(
            DatasetOut, "GET", item_path("datasets", dataset_id, name="dataset_id")
        )

    def delete_dataset(self, dataset_id: str) -> None:
        self._api.done("DELETE", item_path("datasets", dataset_id, name="dataset_id"))

    def create_key(self, tenant: str) -> NewKey:
        """A new API key of ``tenant`` (admin key only); its secret is in ``key``, shown once."""
        return self._api.answer(NewKey, "POST", "/v1/keys", json={"tenant": tenant})

    def keys(self, tenant: str | None = None) -> list[KeyOut]:
        """Every API key (admin key only), or ``tenant``'s; secrets are never shown again."""
        params = {"tenant": tenant} if tenant else None
        response = self._api.request("GET", "/v1/keys", params=params)
        return parse_as(_KEYS, response)

    def revoke_key(self, key_id: str) -> None:
        self._api.done("DELETE", item_path("keys", key_id, name="key_id"))

    def wait(
        self,
        study_id: str,
        *,
        timeout: float = 3600,
        poll: float = 1.0,
        on_update: Callable[[StudyOut], None] | None = None,
        model_grace: float = 300,
        patience: float | None = None,
        on_outage: Callable[[str], None] | None = None,
    ) -> StudyOut:
        """Until the study reaches a final status; ``on_update`` sees every answer, at least
        every ``poll`` seconds: each request asks the server to hold its answer that long, until
        the study has ended (``?wait=``), so the end is seen as it happens.

        A completed study's best model is saved just after it completes (the worker retrains
        the best trial); this waits up to ``model_grace`` more seconds for it to appear, or for
        the study's ``error`` saying why it has none (for a study none of whose trials completed,
        up to ``VERDICT_GRACE`` seconds: with nothing to retrain, a worker says so at once).
        ``TimeoutError`` after ``timeout`` seconds says which of the two it was waiting for and
        how it saw the study last.

        An API that is away (``unavailable``: restarted, its database down) is asked again, with
        backoff, for up to ``patience`` seconds (default ``OUTAGE_PATIENCE``) and never past
        ``timeout``, then its last error is raised; ``on_outage`` (default: a logged warning)
        hears once that it is away, and once that it is back.

        ``poll`` is a number of seconds above 0; ``timeout``, ``model_grace`` and ``patience``
        0 or more, an infinity for no limit; anything else (a NaN) is ``InvalidArgument``.
        """
        return wait_until_final(
            lambda hold: self.study(study_id, fresh=True, hold=hold),
            url=self.shown_url,
            timeout=timeout,
            poll=poll,
            on_update=on_update,
            model_grace=model_grace,
            patience=patience,
            say=on_outage or log.warning,
        )
