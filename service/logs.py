"""Log output that stays readable when something fails again and again.

While Kafka is unreachable, aiokafka and faust log the same few errors many times a second;
:class:`RepeatFilter` lets the first of each kind through, then one per ``interval_s`` with the
number of repeats it held back.
"""

import logging
import time
from collections.abc import Callable

__all__ = ["RepeatFilter", "install_repeat_filter"]


class RepeatFilter(logging.Filter):
    """At most one record per (logger, message template, level) and ``interval_s``."""

    def __init__(self, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[tuple[str, str, int], float] = {}
        self._held: dict[tuple[str, str, int], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg), record.levelno)
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last " \
                         f"{self.interval_s:.0f} s]"
        if len(self._last) > 10_000:
            self._last.clear()
        return True


def install_repeat_filter(logger: logging.Logger | None = None,
                          interval_s: float = 10.0) -> RepeatFilter:
    """Put one :class:`RepeatFilter` on every handler of ``logger`` (the root logger)."""
    target = logger or logging.getLogger()
    repeat = RepeatFilter(interval_s)
    for handler in target.handlers:
        handler.addFilter(repeat)
    return repeat
