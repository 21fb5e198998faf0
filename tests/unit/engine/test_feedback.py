"""Feedback for the people it is about (SPEC §6): the agent's ratings and reviews with comments,
newest first, product ratings on the team's page only, and the tokens that open one agent's
page. Expected values are worked out by hand from the events."""

from __future__ import annotations

import hashlib
import hmac

from test_rules import assigned, at, created, feed, rating, reply, review

from service.engine.feedback import agent_token, token_opens
from service.timefmt import parse_as_of

AS_OF = parse_as_of(at(60))


def desk():  # type: ignore[no-untyped-def]
    commented = rating("c1", at(20), "csat", 2)
    commented["comment"] = "took ages"
    late_review = review(at(40), "a1", 72.5, cid="c1")
    late_review["reviewer_id"] = "lead-7"
    return feed([
        created("c1", at(0)), assigned("c1", at(1), "a1"), reply("c1", at(2), "a1"),
        commented,
        rating("c1", at(25), "csat", 5, about="product"),
        rating("c1", at(30), "nps", 9, about="agent"),
        late_review,
        created("c2", at(3)), assigned("c2", at(4), "a2"), reply("c2", at(5), "a2"),
        rating("c2", at(35), "csat", 5, about="agent"),
        rating("c1", at(-24 * 60 - 30), "csat", 1),   # a day and a half hour ago: outside 24h
    ])


def test_the_agent_page_lists_its_feedback_newest_first_without_product_ratings() -> None:
    page = desk().feedback("agent", "a1", AS_OF)
    assert page["agent"] == "a1" and page["window"] == "24h"
    assert page["ratings"] == [
        {"survey": "nps", "score": 9, "about": "agent", "comment": None,
         "conversation_id": "c1", "agent": "a1", "at": "2024-03-04T10:30:00.000Z"},
        {"survey": "csat", "score": 2, "about": "unspecified", "comment": "took ages",
         "conversation_id": "c1", "agent": "a1", "at": "2024-03-04T10:20:00.000Z"},
    ]
    assert page["reviews"] == [{"score": 72.5, "reviewer_id": "lead-7", "conversation_id": "c1",
                                "agent": "a1", "at": "2024-03-04T10:40:00.000Z"}]
    # 24h CSAT of a1: one rating about the agent or unspecified (2 of 5: not positive).
    assert page["kpis"]["csat"]["responses"] == 1
    assert page["kpis"]["csat"]["positive"] == 0
    assert page["kpis"]["nps"]["responses"] == 1 and page["kpis"]["nps"]["promoters"] == 1
    assert page["kpis"]["qa"] == {"reviews": 1, "avg": 72.5}
    assert set(page["kpis"]) == {"csat", "nps", "ces", "qa"}


def test_the_team_page_has_the_product_ratings_and_every_agent() -> None:
    page = desk().feedback("team", "t1", AS_OF)
    assert [(r["score"], r["about"], r["agent"]) for r in page["ratings"]] == [
        (5, "agent", "a2"), (9, "agent", "a1"), (5, "product", "a1"), (2, "unspecified", "a1")]
    # csat_all counts the product rating too: 3 CSAT ratings, 2 positive (4–5 of 5).
    assert page["kpis"]["csat_all"]["responses"] == 3
    assert page["kpis"]["csat_all"]["positive"] == 2
    assert page["kpis"]["csat"]["responses"] == 2


def test_an_agent_without_feedback_has_an_empty_page() -> None:
    page = desk().feedback("agent", "a9", AS_OF)
    assert page["ratings"] == [] and page["reviews"] == []
    assert page["kpis"] == {"csat": None, "nps": None, "ces": None, "qa": None}


def test_an_agent_token_is_the_hmac_of_the_agent_id_and_opens_only_that_agent() -> None:
    expected = hmac.new(b"s3cret", b"a7", hashlib.sha256).hexdigest()
    assert agent_token("s3cret", "a7") == expected
    assert token_opens(expected, "a7", "s3cret")
    assert not token_opens(expected, "a8", "s3cret")
    assert not token_opens(expected, "a7", "another secret")
    assert not token_opens(expected, "a7", None)
    assert not token_opens("", "a7", "s3cret")
