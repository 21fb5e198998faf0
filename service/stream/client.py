"""The commands that ask every worker and merge the answers: ``support-kpi report`` (/kpis),
``support-kpi queue`` (/conversations) and ``support-kpi explain`` (/explain: each worker lists
the facts of its own conversations, the one that holds the owner its presence too).

A worker that cannot be reached, or answers with a server error (5xx: recovering, stopping),
is left out and named in the answer's ``missing``: the others' parts still come back. A
refusal (4xx: a bad parameter, an unknown team or agent) stops the command with the worker's
reason, since every worker would refuse the same request."""

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from service.engine.explain import merge_explains
from service.engine.queue import merge_queues
from service.engine.report import merge_reports
from service.ingest import shorten

__all__ = ["Answers", "Missing", "NoWorkerAnswered", "WorkerRefused", "fetch_all",
           "fetch_explain", "fetch_queue", "fetch_reports", "known_names"]


class WorkerRefused(ValueError):
    """A worker answered with an HTTP error: ``status`` and the ``reason`` it gave (its JSON
    ``error``, else the start of its body, else the HTTP reason phrase); ``unknown`` the
    ``{"level", "name"}`` of a team or agent it does not know (a 404 of
    :mod:`service.names`), else None."""

    def __init__(self, url: str, status: int, reason: str,
                 unknown: dict[str, Any] | None = None) -> None:
        super().__init__(f"{url} answered {status}: {reason}")
        self.url, self.status, self.reason, self.unknown = url, status, reason, unknown


@dataclass(frozen=True)
class Missing:
    """A worker left out of an answer: its URL and why (unreachable, or its 5xx reason)."""

    url: str
    reason: str


@dataclass
class Answers:
    """What the workers that answered said (``parts``, in the order asked) and the ones that
    did not (``missing``)."""

    parts: list[Any] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)


class NoWorkerAnswered(OSError):
    """None of the workers answered; the message names each and why."""


def _refusal(url: str, error: urllib.error.HTTPError) -> WorkerRefused:
    body = error.read()
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    found = decoded.get("error") if isinstance(decoded, dict) else None
    unknown = decoded.get("unknown") if isinstance(decoded, dict) else None
    if isinstance(found, str) and found:
        reason = found
    else:
        text = body.decode("utf-8", "replace").strip()
        reason = shorten(text, 300) if text else str(error.reason)
    return WorkerRefused(url, error.code, reason,
                         unknown if isinstance(unknown, dict) else None)


def _get_json(url: str, path: str, query: str, token: str | None, timeout_s: float) -> Any:
    """Raises WorkerRefused for an HTTP error, OSError when the worker cannot be reached."""
    request = urllib.request.Request(url.rstrip("/") + path + (f"?{query}" if query else ""))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise _refusal(url, error) from None


def _query(params: dict[str, Any]) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def fetch_all(urls: list[str], path: str, params: dict[str, Any], token: str | None,
              timeout_s: float = 10.0) -> Answers:
    """The JSON answer of ``path`` on every worker that answers, with the query ``params``
    that are not None; the others (unreachable, or a 5xx) in ``missing``.

    Raises WorkerRefused when a worker refuses the request (4xx, its reason), NoWorkerAnswered
    when none answers."""
    query = _query(params)
    answers = Answers()
    for url in urls:
        try:
            answers.parts.append(_get_json(url, path, query, token, timeout_s))
        except WorkerRefused as error:
            if error.status < 500:
                raise
            answers.missing.append(Missing(url, f"answered {error.status}: {error.reason}"))
        except OSError as error:
            answers.missing.append(Missing(url, str(getattr(error, "reason", error))))
    if not answers.parts:
        raise NoWorkerAnswered("no worker answered: " + "; ".join(
            f"{m.url} {m.reason}" for m in answers.missing))
    return answers


def known_names(urls: list[str], level: str, token: str | None,
                timeout_s: float = 10.0) -> list[str]:
    """The ``level`` (team or agent) names every answering worker's ``/owners`` lists,
    merged and sorted; those that do not answer are skipped."""
    names: set[str] = set()
    for url in urls:
        try:
            names.update(_get_json(url, "/owners", "", token, timeout_s).get(f"{level}s", []))
        except (OSError, ValueError):
            continue
    return sorted(names)


def fetch_explain(urls: list[str], params: dict[str, Any], token: str | None,
                  timeout_s: float = 30.0) -> tuple[Any, list[Missing]]:
    """Every answering worker's part of ``/explain``, merged
    (:func:`~service.engine.explain.merge_explains`), and the workers left out.

    Raises WorkerRefused with the worker's reason for a request it refuses, NoWorkerAnswered
    when none answers, LookupError when every worker answered and none holds the owner."""
    answers = fetch_all(urls, "/explain", params, token, timeout_s)
    if not answers.missing and not any(part.get("holder") for part in answers.parts):
        raise LookupError(f"none of {', '.join(urls)} holds it (is the worker that owns it "
                          "running?)")
    return merge_explains(answers.parts), answers.missing


def fetch_reports(urls: list[str], as_of: str | None, token: str | None,
                  timeout_s: float = 10.0) -> tuple[dict[str, Any], list[Missing]]:
    """Every answering worker's ``/kpis``, merged, and the workers left out."""
    answers = fetch_all(urls, "/kpis", {"as_of": as_of}, token, timeout_s)
    return merge_reports(answers.parts), answers.missing


def fetch_queue(urls: list[str], params: dict[str, Any], token: str | None,
                timeout_s: float = 10.0) -> tuple[dict[str, Any], list[Missing]]:
    """Every answering worker's ``/conversations`` with ``params`` (state, team, agent, limit,
    as_of), merged (:func:`~service.engine.queue.merge_queues`), and the workers left out."""
    answers = fetch_all(urls, "/conversations", params, token, timeout_s)
    return merge_queues(answers.parts, params.get("limit")), answers.missing
