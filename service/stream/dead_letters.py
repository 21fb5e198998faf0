"""Dead-letter records that always fit: bounded headers, a value truncated when needed.

A dead letter carries what was rejected and why (SPEC §2). Its headers: ``reason`` (one of
:data:`service.ingest.REASONS`), ``error`` (the field and the reason), the original's
``topic``, ``partition``, ``offset`` and ``size`` (bytes), ``element`` (the index in a batch
envelope, when one element was rejected) and ``truncated: true`` when the value holds only the
first :data:`MAX_VALUE_BYTES` bytes of what was rejected. The records are gzip-compressed by
:class:`~service.stream.batches.RecordBatches`, and none exceeds about 300 KB before
compression, far below the broker's default limit of 1 MB: writing a dead letter cannot fail
for its size.
"""

import logging
from dataclasses import dataclass

from service.engine.conversation import KeyTooLarge
from service.ingest import Rejection, shorten

__all__ = ["MAX_ERROR_CHARS", "MAX_KEY_BYTES", "MAX_VALUE_BYTES", "DeadLetter", "Origin",
           "dead_letter", "processing_error", "webhook_dead_letter"]

log = logging.getLogger(__name__)

MAX_VALUE_BYTES = 256 * 1024
MAX_KEY_BYTES = 1024
MAX_ERROR_CHARS = 500
"""At most about 2 KB of UTF-8 in the ``error`` header."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a rejected message was read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def dead_letter(rejection: Rejection, origin: Origin) -> DeadLetter:
    """The record for one rejection of a message read at ``origin``."""
    return _bounded(rejection, origin.key, [
        ("topic", origin.topic.encode()),
        ("partition", str(origin.partition).encode()),
        ("offset", str(origin.offset).encode()),
    ])


def webhook_dead_letter(rejection: Rejection, vendor: str, key: bytes | None) -> DeadLetter:
    """The record for a webhook delivery that verified but could not be mapped (SPEC §7): the
    raw body, with ``vendor`` instead of a topic, partition and offset."""
    return _bounded(rejection, key, [("vendor", vendor.encode())])


def _bounded(rejection: Rejection, key: bytes | None,
             origin: list[tuple[str, bytes]]) -> DeadLetter:
    raw = rejection.raw
    headers = [
        ("reason", rejection.reason.encode()),
        ("error", shorten(rejection.error, MAX_ERROR_CHARS).encode()),
        *origin,
        ("size", str(len(raw)).encode()),
    ]
    if rejection.element is not None:
        headers.append(("element", str(rejection.element).encode()))
    if len(raw) > MAX_VALUE_BYTES:
        raw = raw[:MAX_VALUE_BYTES]
        headers.append(("truncated", b"true"))
    if key is not None and len(key) > MAX_KEY_BYTES:
        key = key[:MAX_KEY_BYTES]
        headers.append(("key_truncated", b"true"))
    return DeadLetter(key, raw, headers)


def processing_error(error: Exception, raw: bytes | None) -> Rejection:
    """SPEC §2: a message that cannot be processed is dead-lettered, naming the failure (the
    traceback goes to the log). An event its conversation cannot take past the documented
    bounds (:class:`~service.engine.conversation.KeyTooLarge`) is ``key_too_large``."""
    if isinstance(error, KeyTooLarge):
        return Rejection("key_too_large", shorten(str(error), MAX_ERROR_CHARS), raw or b"")
    log.warning("a message could not be processed (%s); dead-lettered", type(error).__name__,
                exc_info=True)
    return Rejection("processing_error", shorten(f"{type(error).__name__}: {error}",
                                                 MAX_ERROR_CHARS), raw or b"")
