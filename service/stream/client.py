"""The commands that ask every worker and merge the answers: ``support-kpi report`` (/kpis),
``support-kpi queue`` (/conversations) and ``support-kpi explain`` (/explain: each worker lists
the facts of its own conversations, the one that holds the owner its presence too)."""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from service.engine.explain import merge_explains
from service.engine.queue import merge_queues
from service.engine.report import merge_reports
from service.ingest import shorten

__all__ = ["WorkerRefused", "fetch_all", "fetch_explain", "fetch_queue", "fetch_reports"]


class WorkerRefused(ValueError):
    """A worker answered with an HTTP error: ``status`` and the ``reason`` it gave (its JSON
    ``error``, else the start of its body, else the HTTP reason phrase)."""

    def __init__(self, url: str, status: int, reason: str) -> None:
        super().__init__(f"{url} answered {status}: {reason}")
        self.url, self.status, self.reason = url, status, reason


def _reason(error: urllib.error.HTTPError) -> str:
    body = error.read()
    try:
        found = json.loads(body).get("error")
    except (ValueError, AttributeError):
        found = None
    if isinstance(found, str) and found:
        return found
    text = body.decode("utf-8", "replace").strip()
    return shorten(text, 300) if text else str(error.reason)


def _get_json(url: str, path: str, query: str, token: str | None, timeout_s: float) -> Any:
    """Raises WorkerRefused for an HTTP error, OSError when the worker cannot be reached."""
    request = urllib.request.Request(url.rstrip("/") + path + (f"?{query}" if query else ""))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise WorkerRefused(url, error.code, _reason(error)) from None


def _query(params: dict[str, Any]) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def fetch_all(urls: list[str], path: str, params: dict[str, Any], token: str | None,
              timeout_s: float = 10.0) -> list[Any]:
    """The JSON answer of ``path`` on every worker, with the query ``params`` that are not None.

    Raises WorkerRefused when a worker answers with an error (its reason), OSError when one
    does not answer."""
    query = _query(params)
    return [_get_json(url, path, query, token, timeout_s) for url in urls]


def fetch_explain(urls: list[str], params: dict[str, Any], token: str | None,
                  timeout_s: float = 30.0) -> Any:
    """Every worker's part of ``/explain``, merged
    (:func:`~service.engine.explain.merge_explains`).

    Raises WorkerRefused with the worker's reason for a request it refuses, LookupError when
    no worker holds the owner, OSError when one cannot be reached."""
    query = _query(params)
    parts = [_get_json(url, "/explain", query, token, timeout_s) for url in urls]
    if not any(part.get("holder") for part in parts):
        raise LookupError(f"none of {', '.join(urls)} holds it (is the worker that owns it "
                          "running?)")
    return merge_explains(parts)


def fetch_reports(urls: list[str], as_of: str | None, token: str | None,
                  timeout_s: float = 10.0) -> dict[str, Any]:
    return merge_reports(fetch_all(urls, "/kpis", {"as_of": as_of}, token, timeout_s))


def fetch_queue(urls: list[str], params: dict[str, Any], token: str | None,
                timeout_s: float = 10.0) -> dict[str, Any]:
    """Every worker's ``/conversations`` with ``params`` (state, team, agent, limit, as_of),
    merged (:func:`~service.engine.queue.merge_queues`)."""
    return merge_queues(fetch_all(urls, "/conversations", params, token, timeout_s),
                        params.get("limit"))
