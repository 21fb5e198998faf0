"""Closed vocabularies and field types shared by the event models."""

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

__all__ = [
    "About",
    "AgentPresence",
    "Author",
    "Channel",
    "ConversationStatus",
    "EventTime",
    "Id",
    "Initiator",
    "Method",
    "Priority",
    "StatusActor",
    "Survey",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=512)]
EventTime = Annotated[
    AwareDatetime,
    Field(description="RFC 3339 timestamp with a UTC offset; a timestamp without one is invalid"),
]

Channel = Literal["chat", "email", "phone", "social", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
Initiator = Literal["customer", "agent"]
Method = Literal["pull", "push"]
Author = Literal["customer", "agent", "bot"]
ConversationStatus = Literal["open", "pending", "snoozed", "resolved", "closed"]
StatusActor = Literal["agent", "customer", "bot", "system"]
Survey = Literal["csat", "nps", "ces"]
About = Literal["agent", "product", "other", "unspecified"]
AgentPresence = Literal["available", "busy", "after_work", "away", "offline"]
