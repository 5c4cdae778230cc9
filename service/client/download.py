"""The best model's download: streamed to a file beside the one asked for and put in its place
whole, with an error answer, an answer that is no model file, or a download broken off or
interrupted leaving nothing behind."""

from __future__ import annotations

from pathlib import Path

import httpx

from regtune.service.client.best_model import MODEL_TYPES
from regtune.service.client.errors import BrokenDownload, api_error, not_a_file, unanswered
from regtune.service.client.saving import saving
from regtune.service.client.transport import Transport, media_type


def save_best_model(api: Transport, where: str, path: Path, *, study_id: str) -> Path:
    """Study ``study_id``'s best model, sent at ``where``, saved to ``path``; a download that
    breaks off or is interrupted (Ctrl-C) leaves nothing behind."""
    partial = path.with_name(path.name + ".part")
    response: httpx.Response | None = None
    try:
        with api.pool().stream("GET", where) as response:
            if not response.is_success:
                response.read()
                raise api_error(response)
            if media_type(response) not in MODEL_TYPES:  # a captive portal's page, say
                raise not_a_file(response, MODEL_TYPES, "a model file")
            with saving(path, partial) as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        if response is None:
            raise unanswered(
                exc, "GET", where, url=api.shown_url, timeout_given_as=api.timeout_given_as
            ) from None
        expected = response.headers.get("Content-Length", "?")
        raise BrokenDownload(
            f"the API at {api.shown_url} broke off the download of study {study_id}'s best "
            f"model after {response.num_bytes_downloaded} of {expected} bytes ({exc}); nothing "
            "was saved, the API's log says why"
        ) from None
    except BaseException:  # Ctrl-C mid-download too: nothing half-written stays
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return path
