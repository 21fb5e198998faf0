"""Whether the Kafka cluster answers: a metadata request every few seconds.

faust and aiokafka retry a lost broker on their own and keep the last high-water marks, so
without a probe a worker cut off from Kafka reports itself ready with no lag. The probe asks
for the cluster metadata (a frozen broker that still accepts connections fails it too) and
keeps when the cluster stopped answering.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

__all__ = ["PROBE_INTERVAL_S", "KafkaReachability"]

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 3.0
BUSY_SHARE = 0.25
"""A probe that timed out while the event loop stood still for more than this share of its
timeout is inconclusive: the answer may have come and waited for the loop."""


class _LoopWatch:
    """The longest time the event loop stood still while it ran (seconds beyond its tick)."""

    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        loop = asyncio.get_running_loop()
        self.last = loop.time()
        self.stalled_s = 0.0
        self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            self._note(loop.time())

    def _note(self, now: float) -> None:
        self.stalled_s = max(self.stalled_s, now - self.last - self.tick_s)
        self.last = now

    def stop(self) -> float:
        """Stop watching; the longest stall, the one running now included."""
        self.task.cancel()
        self._note(asyncio.get_running_loop().time())
        return self.stalled_s


class KafkaReachability:
    def __init__(self, bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.clock = clock
        self.down_since: float | None = None
        """Epoch seconds of the first failed probe of the current outage; None while up."""
        self._client: AIOKafkaClient | None = None

    @property
    def up(self) -> bool:
        return self.down_since is None

    async def probe(self) -> bool:
        """One metadata request, bounded by ``timeout_s``; True when the cluster answered. A
        timeout while the event loop stood still for a good part of ``timeout_s`` (a table
        recovery, loading a partition's owners, a long batch) says the loop was busy, not that
        Kafka is silent: it changes nothing."""
        watch = _LoopWatch(self.timeout_s / 10)
        try:
            await asyncio.wait_for(self._fetch(), self.timeout_s)
        except (KafkaError, OSError, TimeoutError) as error:
            stalled_s = watch.stop()
            if isinstance(error, TimeoutError) and stalled_s > BUSY_SHARE * self.timeout_s:
                log.debug("Kafka probe timed out while the event loop stood still for %.1f s",
                          stalled_s)
                return self.down_since is None
            if self.down_since is None:
                self.down_since = self.clock()
                log.error("Kafka at %s does not answer (%s); the worker is not ready until "
                          "it does", self.bootstrap, type(error).__name__)
            return False
        finally:
            watch.stop()
        if self.down_since is not None:
            log.warning("Kafka at %s answers again after %.0f s", self.bootstrap,
                        self.clock() - self.down_since)
            self.down_since = None
        return True

    async def _fetch(self) -> None:
        if self._client is None:
            client = AIOKafkaClient(bootstrap_servers=self.bootstrap,
                                    request_timeout_ms=int(self.timeout_s * 1000))
            try:
                await client.bootstrap()
            except BaseException:
                await client.close()
                raise
            self._client = client
        await self._client.fetch_all_metadata()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
