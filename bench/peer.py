"""The peer of ``make bench``: a plain quixstreams application computing only a subset of what
support-kpi does (first-response count and average per agent in 1 h tumbling windows) on the
same input topic, so that every run reports our rate, CPU and memory against it.

It reads the backlog from the start, explodes batch envelopes, re-keys by conversation (state:
the creation time until the first human response), then writes the responses to a topic keyed
by agent that a second dataframe aggregates (a windowed count and mean; quixstreams allows one
``group_by`` per dataframe), as a quixstreams user would write it. No out-of-order handling,
no duplicates, no business hours, no live state: a floor for the work, not a rival.

Run by the bench as ``python -m bench.peer BOOTSTRAP TOPIC EVENTS STATE_DIR``; prints one JSON
line: events, seconds (from the first message to the last first response counted; start-up
apart in startup_seconds, and the quiet wait before stopping left out), events_per_s,
cpu_seconds, peak_rss_mb, first_responses.
"""

import json
import resource
import subprocess
import sys
import threading
import time
import uuid
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

with warnings.catch_warnings(record=True):
    # quixstreams imports confluent_kafka's schema registry, which imports authlib's httpx
    # client, which warns on import (and makes its warnings always show): the peer uses neither.
    from quixstreams import Application
    from quixstreams.dataframe.windows import Count, Mean

__all__ = ["peer_run", "run_peer"]


class _Progress:
    """Counters across the three parts of the topology (all in this process)."""

    def __init__(self, events: int) -> None:
        self.events = events
        self.read = 0
        self.keyed = 0
        self.conversation_events = 0
        self.responses = 0
        self.counted = 0
        self.first_at: float | None = None
        """perf_counter when the first message arrived (the app's start-up excluded, as the
        service phase starts its clock once the workers are ready)."""
        self.last_at: float | None = None
        """perf_counter when the last first response was counted."""

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return (self.read, self.keyed, self.conversation_events, self.responses,
                self.counted)

    @property
    def done(self) -> bool:
        return (self.read >= self.events and self.conversation_events == self.keyed
                and self.counted == self.responses)


def _explode(progress: _Progress) -> Any:
    def explode(value: bytes) -> list[dict[str, Any]]:
        if progress.first_at is None:
            progress.first_at = time.perf_counter()
        events = orjson.loads(value)
        events = events if isinstance(events, list) else [events]
        progress.read += len(events)
        kept = [e for e in events if e["type"] in ("conversation.created", "message.created")]
        progress.keyed += len(kept)
        return kept
    return explode


def _ms(at: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000)


def _first_response(progress: _Progress) -> Any:
    def first_response(event: dict[str, Any], state: Any) -> dict[str, Any] | None:
        progress.conversation_events += 1
        if state.get("done"):
            return None
        if event["type"] == "conversation.created":
            if event.get("initiator", "customer") == "customer":
                state.set("created", _ms(event["at"]))
            return None
        created = state.get("created")
        if (created is None or event.get("author") != "agent" or event.get("automated")
                or event.get("internal") or not event.get("agent_id")):
            return None
        state.set("done", True)
        progress.responses += 1
        at = _ms(event["at"])
        return {"agent": event["agent_id"], "seconds": (at - created) / 1000, "at": at}
    return first_response


QUIET_S = 15.0
"""Once every event is read, the peer stops when no counter has moved for this long: a
response still in the producer's buffer when the last message was processed would otherwise
leave ``done`` unseen (no message comes to trigger the check)."""


def _stop_when_quiet(progress: _Progress, app: Application) -> None:
    last, since = progress.snapshot(), time.perf_counter()
    while True:
        time.sleep(0.5)
        now = progress.snapshot()
        if now != last:
            last, since = now, time.perf_counter()
        elif progress.read >= progress.events and time.perf_counter() - since > QUIET_S:
            app.stop()
            return


def run_peer(bootstrap: str, topic: str, events: int, state_dir: str) -> dict[str, Any]:
    progress = _Progress(events)
    apps: list[Application] = []

    def processed(topic_name: str, partition: int, offset: int) -> None:
        if progress.done:
            apps[0].stop()

    app = Application(broker_address=bootstrap, consumer_group=f"peer-{uuid.uuid4().hex[:8]}",
                      auto_offset_reset="earliest", state_dir=state_dir, loglevel="ERROR",
                      on_message_processed=processed)
    apps.append(app)

    def counted(value: Any) -> Any:
        progress.counted += 1
        progress.last_at = time.perf_counter()
        return value
    sdf = app.dataframe(app.topic(topic, value_deserializer="bytes",
                                  key_deserializer="bytes"))
    sdf = sdf.apply(_explode(progress), expand=True)
    sdf = sdf.group_by(lambda e: e["conversation_id"], name="peer-conversation")
    sdf = sdf.apply(_first_response(progress), stateful=True)
    sdf = sdf.filter(lambda value: value is not None)
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: value["at"])
    responses = app.topic(f"{topic}-peer-responses", value_serializer="json",
                          value_deserializer="json", key_serializer="str",
                          key_deserializer="str")
    sdf.to_topic(responses, key=lambda value: value["agent"])
    by_agent = app.dataframe(responses).apply(counted)
    (by_agent.tumbling_window(timedelta(hours=1), grace_ms=timedelta(days=1))
     .agg(count=Count(), avg=Mean("seconds")).current())
    watchdog = threading.Thread(target=_stop_when_quiet, args=(progress, app), daemon=True)
    started = time.perf_counter()
    watchdog.start()
    app.run()
    finished = progress.last_at or time.perf_counter()
    first = started if progress.first_at is None else progress.first_at
    seconds = finished - first
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"events": progress.read, "seconds": seconds, "startup_seconds": first - started,
            "events_per_s": progress.read / seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "first_responses": progress.counted,
            "complete": progress.done}


def peer_run(bootstrap: str, topic: str, events: int, workdir: Path,
             timeout_s: float) -> dict[str, Any]:
    """Run the peer in a process of its own (its CPU and memory apart) on ``topic``, which
    holds ``events`` events; its figures."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.peer", bootstrap, topic, str(events),
         str(workdir / f"peer-state-{uuid.uuid4().hex[:8]}")],
        capture_output=True, text=True, timeout=timeout_s, check=False,
        cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        raise RuntimeError(f"the quixstreams peer failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    bootstrap_arg, topic_arg, events_arg, state_arg = sys.argv[1:5]
    print(json.dumps(run_peer(bootstrap_arg, topic_arg, int(events_arg), state_arg)))
