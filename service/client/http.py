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
``InvalidArgument`` before any request. They are ``regtune.service.client.errors``'s (the public
ones ``regtune``'s too: ``regtune.ApiError``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from regtune.service.api.schemas.best import BestTrial
from regtune.service.api.schemas.datasets import DatasetOut, DatasetPage
from regtune.service.api.schemas.keys import KeyOut, NewKey
from regtune.service.api.schemas.studies import (
    STUDY_WAIT_MAX,
    TENANTS_HEADER,
    ExtendedStudy,
    StudyOut,
    StudyPage,
)
from regtune.service.api.schemas.trials import TrialOut, TrialPage
from regtune.service.api.schemas.workers import WORKERS_SCOPE_HEADER, WorkerOut
from regtune.service.client.arguments import (
    DEFAULT_URL,
    api_url,
    header_key,
    item_path,
    json_numbers,
    positive_seconds,
    setting_name,
    shown_url,
    study_path,
    timeout_seconds,
    trial_number,
)
from regtune.service.client.best_model import (
    MODEL_TYPES,
    VERDICT_GRACE,
    awaits_model,
    no_best_trial,
    wait_timed_out,
)
from regtune.service.client.errors import (
    BrokenDownload,
    UnexpectedAnswer,
    api_error,
    not_a_file,
    unanswered,
    unavailable,
    unexpected,
)
from regtune.service.client.frame import objective_directions, objective_names
from regtune.service.client.saving import into_a_directory, saving
from regtune.service.client.table import file_sent, frame_csv
from regtune.service.spec.enums import FINAL

if TYPE_CHECKING:
    import pandas as pd

PAGE_LIMIT = 500
"""The API's largest page of a listing."""
OUTAGE_PATIENCE = 300.0
"""Seconds ``Client.wait`` asks again an API that is away (a restart, its database down)."""
log = logging.getLogger(__name__)
T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)
PageT = TypeVar("PageT", StudyPage, TrialPage, DatasetPage)
_WORKERS = TypeAdapter(list[WorkerOut])
_KEYS = TypeAdapter(list[KeyOut])


class Client:
    """One connection pool to one API; ``url``, ``key`` and ``timeout`` (seconds to wait for
    each answer) default to REGTUNE_URL, REGTUNE_KEY and REGTUNE_TIMEOUT (else 30)."""

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
        self._timeout_given_as = setting_name("timeout", timeout)
        seconds = timeout_seconds(
            timeout if timeout is not None else os.environ.get("REGTUNE_TIMEOUT") or None,
            given_as=self._timeout_given_as,
        )
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=seconds, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "json" in kwargs:  # httpx's encoder refuses what JSON cannot carry with a ValueError
            json_numbers(kwargs["json"], "body")
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise unanswered(
                exc, method, path, url=self.shown_url, timeout_given_as=self._timeout_given_as
            ) from None
        if not response.is_success:  # a redirect too: its body is no answer to the request
            raise api_error(response)
        return response

    def _through_outages(
        self, ask: Callable[[], T], *, patience: float, say: Callable[[str], None]
    ) -> T:
        """``ask()``, asked again with backoff (from 0.5 s, doubling up to 10 s) while the API
        is ``unavailable``, for up to ``patience`` seconds, then its last error; ``say`` hears
        once that it is away, and once that it answers again."""
        away: list[BaseException] = []

        def warn(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if not away and error is not None:
                away.append(error)
                say(
                    f"{error}; asking again for up to {patience:g} s (the study keeps running "
                    "on the server)"
                )

        answer = Retrying(
            retry=retry_if_exception(unavailable),
            wait=wait_exponential(multiplier=0.5, max=10) + wait_random(0, 0.5),
            stop=stop_after_delay(patience),
            before_sleep=warn,
            reraise=True,
        )(ask)
        if away:
            say(f"the regtune API at {self.shown_url} answers again")
        return answer

    def _answer(self, model: type[ModelT], method: str, path: str, **kwargs: Any) -> ModelT:
        """One request whose answer is parsed into ``model``, the route's response model."""
        return _parse(model, self._request(method, path, **kwargs))

    def _page(
        self, model: type[PageT], path: str, params: dict[str, Any], *, offset: int, limit: int
    ) -> PageT:
        """``limit`` items from ``offset`` on, in as many of the API's pages (at most
        ``page_limit`` items each) as that takes, answered as one page of the listing (a
        ``limit`` below 1 is sent as it is, for the API's 422 to name)."""
        return self._page_and_headers(model, path, params, offset=offset, limit=limit)[0]

    def _page_and_headers(
        self, model: type[PageT], path: str, params: dict[str, Any], *, offset: int, limit: int
    ) -> tuple[PageT, httpx.Headers]:
        """``_page``'s page, and the headers of the API's first answer."""

        def window(start: int, count: int) -> httpx.Response:
            asked = params | {"offset": start, "limit": min(count, self.page_limit)}
            return self._request("GET", path, params=asked)

        first = window(offset, limit)
        page = _parse(model, first)
        items = list(page.items)
        while page.items and len(items) < limit and offset + len(items) < page.total:
            page = _parse(model, window(offset + len(items), limit - len(items)))
            items.extend(page.items)
        return model(items=items, total=page.total, offset=offset, limit=limit), first.headers

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
        if not isinstance(definition, Path | str | bytes):  # a mapping
            body = json_numbers(definition, "definition")
            response = self._request("POST", "/v1/studies", json=body)
            return _parse(StudyOut, response)
        if isinstance(definition, Path):
            text, looks_json = definition.read_bytes(), definition.suffix.lower() == ".json"
        else:
            text = definition.encode() if isinstance(definition, str) else definition
            looks_json = _json_object(definition)
        as_json = looks_json if as_json is None else as_json
        kind = "application/json" if as_json else "application/yaml"
        response = self._request(
            "POST", "/v1/studies", content=text, headers={"Content-Type": kind}
        )
        return _parse(StudyOut, response)

    def study(self, study_id: str, *, fresh: bool = False, hold: float | None = None) -> StudyOut:
        """The study; ``fresh``: as it is now, where an API process may otherwise answer it as
        it read it up to a second ago (``Cache-Control: no-cache``); ``hold``: the server keeps
        its answer up to that many seconds (at most 60) until the study has ended and its best
        model is saved (``?wait=``)."""
        headers = {"Cache-Control": "no-cache"} if fresh else None
        if hold is None:
            return self._answer(StudyOut, "GET", study_path(study_id), headers=headers)
        hold = positive_seconds(hold, given_as="hold")  # it lengthens the read's timeout, NaN too
        timeout = self._http.timeout
        return self._answer(
            StudyOut,
            "GET",
            study_path(study_id),
            headers=headers,
            params={"wait": hold},
            timeout=httpx.Timeout(
                timeout.connect,
                read=None if timeout.read is None else timeout.read + hold,  # None: unbounded
                write=timeout.write,
                pool=timeout.pool,
            ),
        )

    def study_seen(self, study_id: str) -> tuple[StudyOut, bool]:
        """The study, and whether the caller reaches every tenant's studies (the admin key),
        so that it is told whose the study is: the API's ``X-Regtune-Tenants``; from an API
        that does not send it, False."""
        response = self._request("GET", study_path(study_id))
        return _parse(StudyOut, response), response.headers.get(TENANTS_HEADER) == "all"

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
        page, headers = self._page_and_headers(
            StudyPage, "/v1/studies", params, offset=offset, limit=limit
        )
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
        )

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
        return self._answer(TrialOut, "GET", study_path(study_id, "trials", trial_number(number)))

    def cancel(self, study_id: str) -> StudyOut:
        return self._answer(StudyOut, "POST", study_path(study_id, "cancel"))

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
        json_numbers(timeout_s, "timeout_s")
        body: dict[str, Any] = {}
        if points is not None:  # an empty list too, for the API to say what points need
            body["points_to_evaluate"] = json_numbers(points, "points")
        if n_trials is not None:
            body["n_trials"] = n_trials
        if n_trials_total is not None:
            body["n_trials_total"] = n_trials_total
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        return self._answer(ExtendedStudy, "POST", study_path(study_id, "extend"), json=body)

    def delete(self, study_id: str) -> None:
        self._request("DELETE", study_path(study_id))

    def download_best_model(self, study_id: str, path: str | Path) -> Path:
        """Save the best model (safetensors) of a completed study to ``path``; a download that
        breaks off or is interrupted (Ctrl-C) leaves nothing behind, and a file error
        (``FileNotFoundError`` for a directory that does not exist, checked first) names
        ``path``."""
        path = into_a_directory(Path(path), "the best model")
        where = study_path(study_id, "best-model")
        partial = path.with_name(path.name + ".part")
        response: httpx.Response | None = None
        try:
            with self._http.stream("GET", where) as response:
                if not response.is_success:
                    response.read()
                    raise api_error(response)
                if _media_type(response) not in MODEL_TYPES:  # a captive portal's page, say
                    raise not_a_file(response, MODEL_TYPES, "a model file")
                with saving(path, partial) as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            if response is None:
                raise unanswered(
                    exc, "GET", where, url=self.shown_url, timeout_given_as=self._timeout_given_as
                ) from None
            expected = response.headers.get("Content-Length", "?")
            raise BrokenDownload(
                f"the API at {self.shown_url} broke off the download of study {study_id}'s best "
                f"model after {response.num_bytes_downloaded} of {expected} bytes ({exc}); nothing "
                "was saved, the API's log says why"
            ) from None
        except BaseException:  # Ctrl-C mid-download too: nothing half-written stays
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)
        return path

    def report(self, study_id: str, path: str | Path | None = None) -> str:
        """The study report (one self-contained HTML page); also written to ``path`` if given
        (a directory that does not exist is a ``FileNotFoundError`` naming it, before the
        request)."""
        where = study_path(study_id, "report")
        target = None if path is None else into_a_directory(Path(path), "the report")
        html = self._request("GET", where).text
        if target is not None:  # replaced whole: a page open there never reads half of it
            partial = target.with_name(target.name + ".part")
            with saving(target, partial, "the report") as out:
                out.write(html.encode("utf-8"))
            partial.replace(target)
        return html

    def workers(self) -> list[WorkerOut]:
        return self.workers_seen()[0]

    def workers_seen(self) -> tuple[list[WorkerOut], bool]:
        """The live workers, and whether they are the whole pool (the admin key's listing, or
        an API's without keys) rather than only those running the key's tenant's trials: the
        API's ``X-Regtune-Workers``; from an API that does not send it, the whole pool unless
        the requests carry a key."""
        response = self._request("GET", "/v1/workers")
        try:
            listed = _WORKERS.validate_json(response.content)
        except ValidationError as exc:
            raise unexpected(response, exc) from None
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
        marks = [missing_values] if isinstance(missing_values, str) else list(missing_values)
        ignored = [ignore] if isinstance(ignore, str) else list(ignore)  # a str is one column
        form: dict[str, Any] = {"target": target, "task": task, "ignore": ignored}
        if encoding is not None:
            form["encoding"] = encoding
        if marks:
            form["missing_values"] = marks
        if not isinstance(source, str | Path):
            if encoding is not None:
                raise ValueError(
                    f"encoding applies to a file; a DataFrame is sent as UTF-8, got {encoding=}"
                )
            table = frame_csv(source, target=target, ignore=ignored)
            response = self._request(
                "POST", "/v1/datasets", files={"file": ("frame.csv", table)}, data=form
            )
        else:
            path = Path(source)
            with path.open("rb") as handle:
                sent = file_sent(handle)
                response = self._request(
                    "POST", "/v1/datasets", files={"file": (path.name, sent)}, data=form
                )
        dataset = _parse(DatasetOut, response)
        if marks and "missing_values" not in dataset.model_fields_set:
            raise UnexpectedAnswer(
                f"the API at {self.shown_url} does not know missing_values (it is older than this "
                f"client): its dataset {dataset.id} reads {marks} as values, not as missing; "
                "upgrade the API, or write those cells empty"
            )
        return dataset

    def datasets(self, *, offset: int = 0, limit: int = 50) -> DatasetPage:
        return self._page(DatasetPage, "/v1/datasets", {}, offset=offset, limit=limit)

    def dataset(self, dataset_id: str) -> DatasetOut:
        return self._answer(DatasetOut, "GET", item_path("datasets", dataset_id, name="dataset_id"))

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", item_path("datasets", dataset_id, name="dataset_id"))

    def create_key(self, tenant: str) -> NewKey:
        """A new API key of ``tenant`` (admin key only); its secret is in ``key``, shown once."""
        return self._answer(NewKey, "POST", "/v1/keys", json={"tenant": tenant})

    def keys(self, tenant: str | None = None) -> list[KeyOut]:
        """Every API key (admin key only), or ``tenant``'s; secrets are never shown again."""
        params = {"tenant": tenant} if tenant else None
        response = self._request("GET", "/v1/keys", params=params)
        try:
            return _KEYS.validate_json(response.content)
        except ValidationError as exc:
            raise unexpected(response, exc) from None

    def revoke_key(self, key_id: str) -> None:
        self._request("DELETE", item_path("keys", key_id, name="key_id"))

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
        """
        if not poll > 0:  # 0 would ask the API for the study in a tight loop
            raise ValueError(f"poll must be > 0 seconds, got {poll=}")
        deadline = time.monotonic() + timeout
        completed_at: float | None = None
        while True:
            asked = time.monotonic()
            hold = max(0.001, min(poll, STUDY_WAIT_MAX, deadline - asked))
            study = self._through_outages(
                partial(self.study, study_id, fresh=True, hold=hold),
                # never past the wait's own timeout
                patience=min(OUTAGE_PATIENCE if patience is None else patience, deadline - asked),
                say=on_outage or log.warning,
            )
            if on_update is not None:
                on_update(study)
            if study.status in FINAL:
                if not awaits_model(study):
                    return study
                completed_at = completed_at or time.monotonic()
                grace = model_grace
                if not study.counts.get("COMPLETE"):  # no model to retrain: only a word to come
                    grace = min(model_grace, VERDICT_GRACE)
                if time.monotonic() - completed_at > grace:
                    return study
            if time.monotonic() > deadline:
                raise TimeoutError(wait_timed_out(study, timeout))
            time.sleep(max(0.0, poll - (time.monotonic() - asked)))  # a server that did not hold


def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise unexpected(response, exc) from None


def _media_type(response: httpx.Response) -> str:
    """The type ``Content-Type`` names, lower case, without its parameters."""
    return response.headers.get("Content-Type", "").partition(";")[0].strip().lower()


def _json_object(text: str | bytes) -> bool:
    """Whether definition text (or UTF-8 bytes) is a JSON object (YAML reads it too, but
    forgives what JSON does not: a trailing comma, ``.2``)."""
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):  # not JSON (json.JSONDecodeError), or too deep
        return False
