"""Feedback for the people it is about (SPEC §6): an agent's or a team's ratings and reviews of
the 24h window, newest first, beside the 24h KPIs they make up.

An agent's page leaves out the ratings ``about: product`` (they are listed on the team's page,
never on the agent's); everything else attributed to the agent is listed, so its CSAT, NPS and
CES counts can be checked against the list (CSAT counts the ratings about the agent or
unspecified, SPEC §3). The 24h window is the report's (:data:`~service.engine.panes.WINDOWS`):
the listed ratings are exactly the ones its values count.

Access (SPEC §6): the operator token, or an agent token — HMAC-SHA256 of the agent id under the
server secret, hex — that opens only that agent's page.
"""

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from service.engine.conversations import REVIEW_PREFIX
from service.engine.facts import Rating, Review
from service.engine.panes import WINDOWS, panes_summed
from service.engine.records import format_time

__all__ = ["AGENT_KPIS", "TEAM_KPIS", "agent_token", "feedback_page", "token_opens"]

AGENT_KPIS = ("csat", "nps", "ces", "qa")
TEAM_KPIS = ("csat", "csat_all", "nps", "ces", "qa")
_DAY = next(window for window in WINDOWS if window.name == "24h")


def agent_token(secret: str, agent: str) -> str:
    """The token that opens ``agent``'s page: HMAC-SHA256 of the agent id under ``secret``,
    64 hex digits."""
    return hmac.new(secret.encode(), agent.encode(), hashlib.sha256).hexdigest()


def token_opens(given: str, agent: str, secret: str | None) -> bool:
    """Whether ``given`` is ``agent``'s token (False without a secret), compared in constant
    time."""
    return secret is not None and hmac.compare_digest(given.encode(),
                                                      agent_token(secret, agent).encode())


def _conversation(fact_id: str) -> str | None:
    conversation_id = fact_id.rsplit(":", 1)[0]
    return None if conversation_id.startswith(REVIEW_PREFIX) else conversation_id


def feedback_page(level: str, key: str, facts: Iterable[Rating | Review], as_of_ms: int,
                  kpis: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``/agents/{agent}/feedback`` (``level`` agent) or ``/teams/{team}/feedback``
    (``level`` team) answer: ``{agent|team, as_of, window, kpis, ratings, reviews}``; ``kpis``
    are the key's 24h report values (None: not held here, every value null)."""
    start, end = panes_summed(_DAY, as_of_ms)
    ratings: list[Rating] = []
    reviews: list[Review] = []
    for fact in facts:
        if not start <= fact.at < end:
            continue
        if isinstance(fact, Rating):
            if level == "team" or fact.about != "product":
                ratings.append(fact)
        else:
            reviews.append(fact)
    ratings.sort(key=lambda f: (f.at, f.fact_id), reverse=True)
    reviews.sort(key=lambda f: (f.at, f.fact_id), reverse=True)
    names = AGENT_KPIS if level == "agent" else TEAM_KPIS
    return {
        level: key, "as_of": format_time(as_of_ms), "window": _DAY.name,
        "kpis": {name: None if kpis is None else kpis.get(name) for name in names},
        "ratings": [{"survey": r.survey, "score": r.score, "about": r.about,
                     "comment": r.comment, "conversation_id": _conversation(r.fact_id),
                     "agent": r.agent, "at": format_time(r.at)} for r in ratings],
        "reviews": [{"score": r.score_milli / 1000, "reviewer_id": r.reviewer,
                     "conversation_id": _conversation(r.fact_id), "agent": r.agent,
                     "at": format_time(r.at)} for r in reviews],
    }
