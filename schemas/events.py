"""One frozen model per event type of SPEC §2, joined in a union discriminated on ``type``.

Unknown fields are kept (helpdesks add their own); everything the SPEC fixes is strict:
closed enums, timestamps with an offset, scores in range, required ids.
"""

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.common import (
    About,
    AgentPresence,
    Author,
    Channel,
    ConversationStatus,
    DisplayName,
    EventTime,
    Id,
    Initiator,
    Method,
    Priority,
    StatusActor,
    StrictBool,
    StrictInt,
    StrictNumber,
    Survey,
)

__all__ = [
    "EVENT_MODELS",
    "SCORE_RANGES",
    "AgentStatusChanged",
    "BaseEvent",
    "ConversationAbandoned",
    "ConversationAssigned",
    "ConversationCreated",
    "ConversationHandedOff",
    "ConversationStatusChanged",
    "ConversationUnassigned",
    "Event",
    "MessageCreated",
    "RatingSubmitted",
    "ReviewSubmitted",
    "event_adapter",
]

SCORE_RANGES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


class BaseEvent(BaseModel):
    """Fields common to every event."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)

    id: Id = Field(description="Unique event id; a repeated id is a duplicate and changes nothing")
    at: EventTime
    team: str | None = Field(default=None, description="Queue / team")
    source: str | None = Field(default=None, description="Name of the publishing system")
    team_name: DisplayName | None = Field(
        default=None, description="The team's name for people, as the helpdesk calls it "
        "(shown beside the key; a configured name wins)")
    agent_name: DisplayName | None = Field(
        default=None, description="The agent's (agent_id's) name for people, as the helpdesk "
        "calls them (shown beside the key; a configured name wins)")

    conversation_scoped: ClassVar[bool] = True

    @model_validator(mode="after")
    def _names_have_keys(self) -> Self:
        if self.team_name is not None and self.team is None:
            raise ValueError("team_name is given without a team")
        if self.agent_name is not None and getattr(self, "agent_id", None) is None:
            raise ValueError("agent_name is given without an agent_id")
        return self


class _ConversationEvent(BaseEvent):
    conversation_id: Id
    agent_id: Id | None = None


class ConversationCreated(_ConversationEvent):
    type: Literal["conversation.created"]
    channel: Channel = "other"
    priority: Priority = "normal"
    customer_id: str | None = None
    initiator: Initiator = "customer"


class ConversationAssigned(_ConversationEvent):
    type: Literal["conversation.assigned"]
    agent_id: Id
    method: Method = "push"


class ConversationUnassigned(_ConversationEvent):
    type: Literal["conversation.unassigned"]


class MessageCreated(_ConversationEvent):
    type: Literal["message.created"]
    author: Author
    automated: StrictBool = False
    internal: StrictBool = False

    @model_validator(mode="after")
    def _agent_named(self) -> Self:
        if self.author == "agent" and not self.automated and self.agent_id is None:
            raise ValueError("agent_id is required when author is agent")
        return self


class ConversationStatusChanged(_ConversationEvent):
    type: Literal["conversation.status_changed"]
    status: ConversationStatus
    by: StatusActor = "system"


class ConversationAbandoned(_ConversationEvent):
    type: Literal["conversation.abandoned"]


class ConversationHandedOff(_ConversationEvent):
    """A bot or AI agent hands the conversation over to the human queue (SPEC §2). Accepted
    and kept in the conversation's order; the after-handoff KPIs come with the bot KPIs."""

    type: Literal["conversation.handed_off"]


class RatingSubmitted(_ConversationEvent):
    type: Literal["rating.submitted"]
    survey: Survey
    score: StrictInt
    about: About = "unspecified"
    comment: str | None = None

    @model_validator(mode="after")
    def _score_in_range(self) -> Self:
        low, high = SCORE_RANGES[self.survey]
        if not low <= self.score <= high:
            raise ValueError(
                f"score {self.score} is outside {low}..{high} for survey {self.survey}")
        return self


class AgentStatusChanged(BaseEvent):
    type: Literal["agent.status_changed"]
    agent_id: Id
    status: AgentPresence
    conversation_id: str | None = None

    conversation_scoped: ClassVar[bool] = False


class ReviewSubmitted(BaseEvent):
    type: Literal["review.submitted"]
    agent_id: Id = Field(description="The reviewed agent")
    reviewer_id: str | None = None
    score: StrictNumber = Field(ge=0, le=100)
    conversation_id: str | None = None

    conversation_scoped: ClassVar[bool] = False


EVENT_MODELS: tuple[type[BaseEvent], ...] = (
    ConversationCreated,
    ConversationAssigned,
    ConversationUnassigned,
    MessageCreated,
    ConversationStatusChanged,
    ConversationAbandoned,
    ConversationHandedOff,
    RatingSubmitted,
    AgentStatusChanged,
    ReviewSubmitted,
)

Event = Annotated[
    ConversationCreated
    | ConversationAssigned
    | ConversationUnassigned
    | MessageCreated
    | ConversationStatusChanged
    | ConversationAbandoned
    | ConversationHandedOff
    | RatingSubmitted
    | AgentStatusChanged
    | ReviewSubmitted,
    Field(discriminator="type"),
]

event_adapter: TypeAdapter[Any] = TypeAdapter(Event)
