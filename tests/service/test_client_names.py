"""``regtune``'s names: ``dir(regtune)`` lists each public name once, the same before and after
first use, and none of what the module uses itself (was ``Client`` twice once used, beside
``Any``, ``TYPE_CHECKING`` and ``_HOME``); every error the client raises is one of them (was:
``BrokenDownload``, which ``download_best_model`` raises, only as
``regtune.service.client.errors.BrokenDownload``)."""

from __future__ import annotations

import importlib.util
import inspect
from types import ModuleType

import regtune
from regtune.service.client import errors


def fresh_regtune() -> ModuleType:
    """A copy of the ``regtune`` module as ``import regtune`` first makes it: nothing used."""
    spec = importlib.util.spec_from_file_location("regtune_fresh", regtune.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dir_lists_each_public_name_once_before_and_after_use() -> None:
    module = fresh_regtune()
    before = dir(module)
    assert module.Client is regtune.Client and module.ApiError is regtune.ApiError
    after = dir(module)
    assert after == before
    assert len(after) == len(set(after))
    assert [name for name in after if not name.startswith("_")] == sorted(module.__all__)
    assert "__version__" in after
    assert [name for name in after if name not in module.__all__] == [
        name for name in after if name.startswith("__") and name.endswith("__")
    ]


def test_every_error_the_client_raises_is_a_name_of_regtune() -> None:
    raised = {
        name
        for name, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.ClientError)
    }
    assert raised <= set(regtune.__all__)
    for name in raised:
        assert getattr(regtune, name) is getattr(errors, name)
    assert regtune.BrokenDownload is errors.BrokenDownload
