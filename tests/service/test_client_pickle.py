"""The client's errors cross a process boundary as themselves: an error raised in a process
pool's worker (``ProcessPoolExecutor``, joblib, ``multiprocessing.Pool``) reaches the parent,
pickled, with its type, message and attributes (was: ``TypeError`` rebuilding ``ApiError``,
``ApiDidNotAnswer`` or ``InvalidArgument`` from their message alone, which broke the pool and
lost the error)."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

import regtune
from regtune.service.api.schemas.errors import FieldError
from regtune.service.client import errors

RAISED = [
    errors.ClientError("anything"),
    errors.ApiError(
        422,
        "invalid_definition",
        "the definition is not valid",
        [FieldError(path="budget.n_trials", rule="Input should be greater than 0")],
    ),
    errors.ApiUnreachable("cannot reach the regtune API at http://127.0.0.1:8000"),
    errors.ApiDidNotAnswer(
        "the regtune API at http://127.0.0.1:8000 did not answer within 30 s",
        request="POST /v1/studies",
        changes=True,
        hint="timeout sets how many seconds to wait",
    ),
    errors.BrokenDownload("the API broke off the download"),
    errors.InvalidArgument("url", "must be an http:// or https:// URL with a host"),
    errors.ClientClosed("this regtune.Client of http://127.0.0.1:8000 is closed"),
    errors.UnexpectedAnswer("GET /v1/studies/s1: the answer is not what this client expects"),
]


def test_every_client_error_is_one_of_those_pickled() -> None:
    kinds = {
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.ClientError)
    }
    assert kinds == {type(exc) for exc in RAISED}


@pytest.mark.parametrize("exc", RAISED, ids=lambda exc: type(exc).__name__)
def test_a_client_error_pickles_as_itself(exc: errors.ClientError) -> None:
    exc.add_note("in worker 3")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert back.args == exc.args
    assert vars(back) == vars(exc)  # the attributes, and the note


def _a_client_of(url: str) -> None:
    regtune.Client(url)


def test_an_error_of_the_client_in_a_process_pool_reaches_the_parent_as_itself(
    spawn: multiprocessing.context.SpawnContext,
) -> None:
    with (
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool,
        pytest.raises(regtune.InvalidArgument) as refused,
    ):
        pool.submit(_a_client_of, "http://").result()
    assert refused.value.argument == "url"
    assert str(refused.value) == (
        "url: must be an http:// or https:// URL with a host, such as http://127.0.0.1:8000, "
        "got 'http://'"
    )
