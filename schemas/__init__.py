"""The event contract of support-kpi (SPEC §2): pydantic v2 models, JSON Schema and examples."""

from schemas.events import (
    EVENT_MODELS,
    AgentStatusChanged,
    BaseEvent,
    ConversationAbandoned,
    ConversationAssigned,
    ConversationCreated,
    ConversationHandedOff,
    ConversationStatusChanged,
    ConversationUnassigned,
    Event,
    MessageCreated,
    RatingSubmitted,
    ReviewSubmitted,
    event_adapter,
)

__all__ = [
    "EVENT_MODELS",
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
