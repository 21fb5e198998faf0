"""The KPI engine's results for the real ServiceNow log, checked against ServiceNow's own columns.

``tests/unit/importers/test_servicenow.py`` checks the importer's *events*. This module takes the
same file (``incident_event_log_head5998.csv``, 5,998 rows, 890 incidents) through
``convert_incident_log`` and then through the KPI engine (``KpiEngine``), keeps the final version
of every fact, and compares each incident's facts with what ServiceNow recorded
(``incident_truths``: ``resolved_at``, ``closed_at``, ``reopen_count``, ``reassignment_count``,
``made_sla``). The figures asserted are the agreements measured on this file, which are the ones
the importer's docstring states. Every disagreement must fall into an explained category, so a
change in the engine (or the importer) that loses agreement or creates an unexplained difference
fails here. Run with ``-s`` to see the figures and the differences.

Known differences, all measured here:

- Resolution time: SPEC §3 measures to the *first* resolution; ServiceNow's ``resolved_at`` is
  the *last* one (10 reopened incidents), or the last save while Resolved (16 incidents saved
  again while Resolved: ``resolved_at`` equals that later save). 29 incidents have no
  ``resolved_at`` (their first logged row is already Resolved); the engine resolves them too.
- Time to close: ServiceNow moved ``closed_at`` to the last save for 4 incidents saved again
  while Closed; the engine closes once.
- ``reassignment_count`` counts changes of assignment group, not of agent: ``F_ASSIGNED`` facts
  are a different quantity (see the importer's tests for the group changes).
- ``made_sla`` is ServiceNow's flag under SLA definitions that are not in the export. The best
  single wall-clock resolution target is about 90 h (861 of 890 agree); the engine's default
  24 h agrees for 631. Every disagreement at 90 h is an incident ServiceNow calls breached that
  was resolved within 90 h, 18 of the 29 being High or Critical: higher priorities have
  stricter targets (or another SLA, e.g. a response SLA, was breached). Measured on the 861
  incidents with a ``resolved_at``, the first resolution (832) and ServiceNow's last one (833)
  reproduce ``made_sla`` equally well at their best targets.
- Live state: the log has no messages, so every unresolved incident is "awaiting first response"
  (and breaching the first-response SLA after an hour) by SPEC §4's definition. The importer's
  docstring says live "awaiting first response" is empty for a ServiceNow backfill; it is not.

Retention (``test_default_retention_on_an_eleven_month_backfill``): the default engine forgets
a closed conversation idle for 7 days and a resolved one idle for 30; events of a forgotten
conversation then update a fresh state that has no ``conversation.created`` and so measures no
ending. On this backfill that only drops the closes (and reopens) that came more than 30 days
after the incident's previous update: nothing is counted twice and no close turns into an
abandonment. The comparisons below run the engine with a retention longer than the sample.
"""

import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from servicenow_log import LOG, open_log

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.engine.facts import (
    F_ABANDONED,
    F_ASSIGNED,
    F_CLOSED,
    F_CREATED,
    F_FIRST_RESPONSE,
    F_NEXT_RESPONSE,
    F_REOPENED,
    F_RESOLVED,
    Fact,
)
from service.engine.records import to_epoch_ms
from service.importers.servicenow import (
    ImportStats,
    IncidentTruth,
    convert_incident_log,
)

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / ".venv" / "bin" / "support-kpi"

DAY_MS = 24 * 3_600_000
HOUR_S = 3600
KEEP_EVERYTHING_MS = 400 * DAY_MS
"""``forget_after_ms`` for the comparisons: longer than the sample's 342 days, so no incident is
forgotten (see the module docstring)."""

Event = dict[str, Any]
ByIncident = dict[str, dict[int, list[Fact]]]

# SPEC §6: the keys of KPIS (csat_all at team and overall only, weighted_score at agent only).
KPI_KEYS = {
    "conversations_created", "conversations_resolved", "conversations_closed", "reopened",
    "abandoned", "abandonment_ratio", "assigned", "pulled", "pulled_per_hour",
    "first_response_seconds", "first_response_business_seconds",
    "next_response_seconds", "next_response_business_seconds",
    "resolution_seconds", "resolution_business_seconds", "time_to_close_seconds", "wait_seconds",
    "wait_business_seconds", "full_resolution_seconds", "full_resolution_business_seconds",
    "first_response_after_handoff_seconds", "first_response_after_handoff_business_seconds",
    "fcr_ratio", "logged_in_seconds", "busy_seconds", "occupancy_ratio",
    "csat", "nps", "ces", "qa", "sla",
}  # fmt: skip
TEAM_KEYS = {"csat_all", "handed_off", "bot_resolved", "bot_resolution_ratio"}
"""SPEC §6: keys at team and overall level only."""
LIVE_KEYS = {
    "open", "unassigned", "waiting_on_customer", "awaiting_first_response",
    "oldest_awaiting_first_response_seconds", "sla_breaching", "sla_at_risk",
}  # fmt: skip


# --------------------------------------------------------------------------- fixtures


def _at(event: Event) -> datetime:
    return datetime.fromisoformat(event["at"])


@pytest.fixture(scope="module")
def events() -> list[Event]:
    """The importer's events, in its output order (file order: incident by incident)."""
    stats = ImportStats()
    with open_log() as source:
        converted = list(convert_incident_log(source, stats=stats))
    assert (stats.rows_read, stats.rows_skipped, stats.incidents) == (5998, 0, 890)
    return converted


@pytest.fixture(scope="module")
def backfill(events: list[Event]) -> list[Any]:
    """The events validated and sorted by ``at``, as a backfill must be fed.

    The engine keeps pane data only 25 h behind the latest event it has seen (SPEC §4); older
    events still update conversation state but are *late*: their facts never reach a window.
    The export is ordered by incident, not by time (an incident's rows run on for days, up to
    months, and the next incident starts back at its own opening time), so fed in file order
    4,106 of its 4,130 events are late (``test_backfill_must_be_sorted``). The sort is stable,
    so events of one incident with the same ``at`` keep the importer's order (an assignment
    before the status change of the same row).
    """
    ordered = sorted(events, key=_at)
    return [event_adapter.validate_python(event) for event in ordered]


def _run(engine: KpiEngine, validated: Iterable[Any]) -> dict[str, Fact]:
    """Feed every event; the final version of each fact by id (changes applied in order)."""
    facts: dict[str, Fact] = {}
    for event in validated:
        changes = engine.process(event)
        assert changes is not None, f"duplicate event {event.id}"
        for old, new in changes:
            if new is not None:
                facts[new.fact_id] = new
            elif old is not None:
                facts.pop(old.fact_id, None)
    return facts


def _engine(config: KpiConfig | None = None) -> KpiEngine:
    return KpiEngine(config or KpiConfig(), forget_after_ms=KEEP_EVERYTHING_MS)


def _group(facts: dict[str, Fact]) -> ByIncident:
    """Facts by incident (the conversation id is the fact id's prefix) and kind."""
    grouped: ByIncident = defaultdict(lambda: defaultdict(list))
    for fact_id, fact in facts.items():
        grouped[fact_id.split(":", 1)[0]][fact.kind].append(fact)
    return grouped


@pytest.fixture(scope="module")
def engine_run(backfill: list[Any]) -> tuple[KpiEngine, dict[str, Fact]]:
    engine = _engine()
    return engine, _run(engine, backfill)


@pytest.fixture(scope="module")
def facts(engine_run: tuple[KpiEngine, dict[str, Fact]]) -> dict[str, Fact]:
    return engine_run[1]


@pytest.fixture(scope="module")
def by_incident(facts: dict[str, Fact]) -> ByIncident:
    return _group(facts)


def _seconds(ms: int) -> float:
    return ms / 1000


def _since_opened(truth: IncidentTruth, moment: datetime) -> float:
    return (moment - truth.opened_at).total_seconds()


def _row_time(text: str) -> datetime:
    return datetime.strptime(text, "%d-%m-%Y %H:%M").replace(tzinfo=UTC)


def _report(title: str, diffs: list[str]) -> None:
    print(f"\n{title}: {len(diffs)} difference(s)")
    for line in diffs:
        print("  " + line)


# --------------------------------------------------------------------------- the backfill


def test_backfill_must_be_sorted(events: list[Event], backfill: list[Any]) -> None:
    engine = _engine()
    _run(engine, backfill)
    assert engine.counts["late"] == 0
    assert engine.counts["duplicate"] == 0
    assert engine.counts.total() == len(events) == 4130

    unsorted = _engine()
    _run(unsorted, (event_adapter.validate_python(e) for e in events))
    # In file order (by incident, not by time) most events are more than 25 h behind the
    # watermark set by earlier incidents' events.
    assert unsorted.counts["late"] > 0.9 * len(events)


def test_fact_counts_match_servicenow_counts(
    by_incident: ByIncident, facts: dict[str, Fact], truths: dict[str, IncidentTruth]
) -> None:
    kinds = Counter(fact.kind for fact in facts.values())
    assert set(by_incident) == set(truths)
    assert kinds[F_CREATED] == len(truths) == 890
    # conversations_resolved: every incident is resolved once (first resolution), i.e. the 861
    # with a resolved_at plus the 29 whose first logged row is already Resolved.
    assert kinds[F_RESOLVED] == 890
    assert sum(t.resolved_at is not None for t in truths.values()) == 861
    # conversations_closed: every incident of the sample has a closed_at and one close fact.
    assert kinds[F_CLOSED] == sum(t.closed_at is not None for t in truths.values()) == 890
    assert kinds[F_REOPENED] == sum(t.reopen_count or 0 for t in truths.values()) == 11
    for number in truths:
        assert len(by_incident[number][F_RESOLVED]) == 1, number
        assert len(by_incident[number][F_CLOSED]) == 1, number
    # No messages in a ServiceNow log: no response facts, no FCR, and a resolution by an agent
    # (then a system close) is never an abandonment.
    assert kinds[F_ABANDONED] == kinds[F_FIRST_RESPONSE] == kinds[F_NEXT_RESPONSE] == 0
    assert all(fact.fcr is None for fact in facts.values() if fact.kind == F_RESOLVED)


def test_reopened_facts_match_reopen_count(
    by_incident: ByIncident, truths: dict[str, IncidentTruth]
) -> None:
    diffs = [
        f"{number}: F_REOPENED {len(by_incident[number][F_REOPENED])}, "
        f"reopen_count {truth.reopen_count}"
        for number, truth in truths.items()
        if len(by_incident[number][F_REOPENED]) != truth.reopen_count
    ]
    _report("F_REOPENED vs reopen_count", diffs)
    assert diffs == []  # 890 of 890


def test_resolution_seconds_vs_resolved_at(
    by_incident: ByIncident,
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
) -> None:
    with_truth = agree = 0
    reasons: Counter[str] = Counter()
    diffs = []
    for number, truth in truths.items():
        (fact,) = by_incident[number][F_RESOLVED]
        ms, business_ms, wait_ms = fact.ms, fact.business_ms, fact.wait_ms
        assert ms is not None, number
        assert 0 <= wait_ms <= ms and 0 <= business_ms <= ms, number
        rows = raw_rows[number]
        if truth.resolved_at is None:
            reasons["no resolved_at: first logged row already Resolved"] += 1
            assert rows[0]["incident_state"] == "Resolved", number
            continue
        with_truth += 1
        mine, theirs = _seconds(ms), _since_opened(truth, truth.resolved_at)
        if mine == theirs:
            agree += 1
            continue
        # SPEC §3 stops at the first resolution; ServiceNow keeps a later one.
        assert mine < theirs, number
        resolved_saves = [
            _row_time(r["sys_updated_at"]) for r in rows if r["incident_state"] == "Resolved"
        ]
        if (truth.reopen_count or 0) > 0:
            reason = "reopened: ServiceNow keeps the last resolution"
        else:
            assert len(resolved_saves) >= 2, number
            assert truth.resolved_at == resolved_saves[-1], number
            reason = "saved again while Resolved: resolved_at moved to the last save"
        reasons[reason] += 1
        diffs.append(f"{number}: engine {mine:.0f} s, ServiceNow {theirs:.0f} s ({reason})")
    _report("resolution_seconds vs resolved_at - opened_at", diffs)
    print(f"resolution_seconds agrees for {agree} of {with_truth}; {dict(reasons)}")
    # The importer's docstring: 835 of 861 (97.0 %), 10 reopened, 16 re-saved, 29 without.
    assert with_truth == 861
    assert agree == 835
    assert reasons == {
        "reopened: ServiceNow keeps the last resolution": 10,
        "saved again while Resolved: resolved_at moved to the last save": 16,
        "no resolved_at: first logged row already Resolved": 29,
    }


def test_time_to_close_vs_closed_at(
    by_incident: ByIncident,
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
) -> None:
    agree = 0
    diffs = []
    for number, truth in truths.items():
        (fact,) = by_incident[number][F_CLOSED]
        assert fact.ms is not None and truth.closed_at is not None, number
        mine, theirs = _seconds(fact.ms), _since_opened(truth, truth.closed_at)
        if mine == theirs:
            agree += 1
            continue
        # Saved again while Closed: closed_at moved to the last save; the engine closes once.
        assert mine < theirs, number
        closed_saves = [
            _row_time(r["sys_updated_at"])
            for r in raw_rows[number]
            if r["incident_state"] == "Closed"
        ]
        assert len(closed_saves) >= 2 and truth.closed_at == closed_saves[-1], number
        diffs.append(f"{number}: engine {mine:.0f} s, ServiceNow {theirs:.0f} s")
    _report("time_to_close vs closed_at - opened_at", diffs)
    assert agree == 886  # of 890, as the importer's docstring says


def test_assigned_facts_are_not_reassignment_count(
    by_incident: ByIncident, events: list[Event], truths: dict[str, IncidentTruth]
) -> None:
    """One F_ASSIGNED per ``conversation.assigned`` (the importer emits only changes), and agent
    changes match ``reassignment_count`` (group changes) for only 506 of 890."""
    assigned_events = sum(e["type"] == "conversation.assigned" for e in events)
    assigned_facts = sum(len(kinds[F_ASSIGNED]) for kinds in by_incident.values())
    assert assigned_facts == assigned_events == 919
    agree = sum(
        max(len(by_incident[number][F_ASSIGNED]) - 1, 0) == truth.reassignment_count
        for number, truth in truths.items()
    )
    print(f"agent changes (F_ASSIGNED - 1) equal reassignment_count for {agree} of 890")
    assert agree == 506


# --------------------------------------------------------------------------- SLA vs made_sla


def _resolution_config(
    target_s: float, business_hours: bool = False, priorities: dict[str, float] | None = None
) -> KpiConfig:
    defaults: dict[str, Any] = {
        "sla": {"resolution": {"target": target_s, "business_hours": business_hours}}
    }
    if priorities:
        defaults["priorities"] = {p: {"resolution": {"target": t}} for p, t in priorities.items()}
    return KpiConfig.model_validate({"defaults": defaults})


def _resolutions(backfill: list[Any], config: KpiConfig) -> dict[str, Fact]:
    facts = _run(_engine(config), backfill)
    return {fid.split(":", 1)[0]: f for fid, f in facts.items() if f.kind == F_RESOLVED}


def _agreement(resolved: dict[str, Fact], truths: dict[str, IncidentTruth]) -> int:
    return sum(bool(resolved[n].sla_achieved) == truth.made_sla for n, truth in truths.items())


@pytest.fixture(scope="module")
def priorities(events: list[Event]) -> dict[str, str]:
    return {
        e["conversation_id"]: e["priority"] for e in events if e["type"] == "conversation.created"
    }


def test_made_sla_agreement_by_resolution_target(
    backfill: list[Any], truths: dict[str, IncidentTruth], priorities: dict[str, str]
) -> None:
    """``sla_achieved`` with several resolution targets against ServiceNow's ``made_sla``.

    ServiceNow's SLA definitions are not in the export, so nothing here says which target is
    "right"; it measures which one reproduces ServiceNow's flag, and pins the figures so a
    change in how the engine judges the resolution SLA shows up.
    """
    assert Counter(t.made_sla for t in truths.values()) == {True: 495, False: 395}
    measured: dict[str, int] = {}
    runs: dict[str, dict[str, Fact]] = {}
    for label, config in {
        "24 h (default)": KpiConfig(),
        "72 h": _resolution_config(72 * HOUR_S),
        "90 h": _resolution_config(90 * HOUR_S),
        "120 h": _resolution_config(120 * HOUR_S),
        "90 h, high 15 min, urgent 60 h": _resolution_config(
            90 * HOUR_S, priorities={"high": 900, "urgent": 60 * HOUR_S}
        ),
    }.items():
        runs[label] = resolved = _resolutions(backfill, config)
        measured[label] = _agreement(resolved, truths)
    for label, n in measured.items():
        print(f"made_sla agreement, resolution target {label}: {n} of 890 ({n / 890:.1%})")

    # sla_achieved is "first resolution within target", wall clock, per the priority's target.
    targets = {"high": 900_000, "urgent": 60 * HOUR_S * 1000}
    for number, fact in runs["90 h, high 15 min, urgent 60 h"].items():
        target_ms = targets.get(priorities[number], 90 * HOUR_S * 1000)
        assert fact.sla_achieved == int(fact.ms <= target_ms), number

    assert measured == {
        "24 h (default)": 631,
        "72 h": 838,
        "90 h": 861,
        "120 h": 846,
        # Fitted to this sample (all 23 High incidents are flagged breached): not a claim about
        # ServiceNow's targets, a check that per-priority targets reach sla_achieved.
        "90 h, high 15 min, urgent 60 h": 876,
    }

    # Every disagreement at 90 h is ServiceNow "breached" while the engine resolved within 90 h;
    # ServiceNow never says "made" for an incident first resolved after 90 h.
    at_90 = runs["90 h"]
    disagree = [n for n, t in truths.items() if bool(at_90[n].sla_achieved) != t.made_sla]
    assert len(disagree) == 29
    assert all(at_90[n].sla_achieved == 1 and truths[n].made_sla is False for n in disagree)
    by_priority = Counter(priorities[n] for n in disagree)
    print(f"disagreements at 90 h by priority: {dict(by_priority)}")
    assert by_priority == {"high": 14, "normal": 11, "urgent": 4}


def test_best_single_resolution_target_is_about_90_hours(
    by_incident: ByIncident, truths: dict[str, IncidentTruth]
) -> None:
    """A sweep over whole-hour wall-clock targets (sla_achieved = ms <= target, as checked
    above). The same sweep on ServiceNow's own ``resolved_at`` (its last resolution) does as
    well as the engine's first resolution, so the sample cannot tell which one ServiceNow
    judges."""

    def sweep(seconds: dict[str, float], of: dict[str, IncidentTruth]) -> dict[int, int]:
        return {
            hours: sum((seconds[n] <= hours * HOUR_S) == t.made_sla for n, t in of.items())
            for hours in range(1, 241)
        }

    first = {n: _seconds(by_incident[n][F_RESOLVED][0].ms) for n in truths}
    engine_sweep = sweep(first, truths)
    best = max(engine_sweep.values())
    print(
        f"best whole-hour target: {[h for h, n in engine_sweep.items() if n == best]} h, "
        f"{best} of 890"
    )
    assert best == 861
    assert [h for h, n in engine_sweep.items() if n == best] == [89, 90, 91]

    # The same sweep on the 861 incidents with a resolved_at, on both measures.
    with_truth = {n: t for n, t in truths.items() if t.resolved_at is not None}
    last = {
        n: _since_opened(t, t.resolved_at)
        for n, t in with_truth.items()
        if t.resolved_at is not None
    }
    engine_best = max(sweep(first, with_truth).values())
    servicenow_best = max(sweep(last, with_truth).values())
    print(
        f"of the 861 with a resolved_at, best agreement: first resolution {engine_best}, "
        f"resolved_at - opened_at {servicenow_best}"
    )
    assert (engine_best, servicenow_best) == (832, 833)


def test_made_sla_with_business_hours_target(
    backfill: list[Any], by_incident: ByIncident, truths: dict[str, IncidentTruth]
) -> None:
    """Business-hours targets (default calendar, Mon-Fri 09-17 in UTC: the log's zone and
    calendar are unknown) reproduce ``made_sla`` less well than wall-clock ones. Reported; the
    assertion is only that sla_achieved then compares business seconds."""
    business = {n: _seconds(by_incident[n][F_RESOLVED][0].business_ms) for n in truths}
    best = max(
        sum((business[n] <= target) == t.made_sla for n, t in truths.items())
        for target in {0.0, *business.values()}
    )
    print(f"best business-hours resolution target agrees for {best} of 890")
    target_s = 27 * HOUR_S
    resolved = _resolutions(backfill, _resolution_config(target_s, business_hours=True))
    for number, fact in resolved.items():
        assert fact.sla_achieved == int(fact.business_ms <= target_s * 1000), number
    n = _agreement(resolved, truths)
    print(f"made_sla agreement, 27 business hours: {n} of 890")
    assert best < 861


# --------------------------------------------------------------------------- engine defect


def test_default_retention_on_an_eleven_month_backfill(
    backfill: list[Any], facts: dict[str, Fact]
) -> None:
    """Forgetting long-idle ended conversations loses only their late endings: no fact id is
    emitted twice, nothing becomes an abandonment, and every fact the default engine lacks is a
    close or reopen that came more than 30 days after the incident's previous event."""
    engine = KpiEngine(KpiConfig())
    default: dict[str, Fact] = {}
    emitted_twice: Counter[int] = Counter()
    previous_at: dict[str, int] = {}
    gap_before: dict[str, int] = {}
    for event in backfill:
        at = int(event.at.timestamp() * 1000)
        cid = event.conversation_id
        for old, new in engine.process(event) or []:
            if new is not None:
                if old is None and new.fact_id in default:
                    emitted_twice[new.kind] += 1
                default[new.fact_id] = new
            elif old is not None:
                default.pop(old.fact_id, None)
        gap_before[f"{cid}@{at}"] = at - previous_at.get(cid, at)
        previous_at[cid] = at
    assert emitted_twice == {}
    assert not any(f.kind == F_ABANDONED for f in default.values())
    assert set(default) <= set(facts)
    missing = [facts[fid] for fid in set(facts) - set(default)]
    assert missing, "the sample has incidents closed more than 30 days after their last update"
    month = 30 * 24 * 3600 * 1000
    for fact in missing:
        cid = fact.fact_id.split(":")[0]
        assert fact.kind in (F_CLOSED, F_REOPENED), fact
        assert gap_before[f"{cid}@{fact[2]}"] > month, fact
    for fid, fact in default.items():
        assert fact == facts[fid]


# --------------------------------------------------------------------------- CLI end to end


def _cli(*replay_args: str) -> dict[str, Any]:
    """``support-kpi import servicenow LOG | support-kpi replay - --config C [ARGS]``. The log
    spans eleven months in file order, so the retention horizon (SPEC §5) must be longer than
    that, or incidents arriving months behind the latest event would be expired."""
    if not CLI.is_file():
        pytest.fail(f"{CLI} missing: install the project into .venv (pip install -e .)")
    open_log().close()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "retention.yaml"
        config.write_text("retention:\n  closed_days: 400\n")
        return _import_and_replay("--config", str(config), *replay_args)


def _import_and_replay(*replay_args: str) -> dict[str, Any]:
    with subprocess.Popen(
        [str(CLI), "import", "servicenow", str(LOG)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as importer:
        replay = subprocess.run(
            [str(CLI), "replay", "-", "--no-pretty", *replay_args],
            stdin=importer.stdout,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert importer.stdout is not None
        importer.stdout.close()
        import_err = importer.stderr.read().decode() if importer.stderr else ""
        assert importer.wait(timeout=60) == 0, import_err
    assert "5998 rows read, 890 incidents, 4130 events written, 0 rows skipped" in import_err
    assert replay.returncode == 0, replay.stderr.decode()
    return orjson.loads(replay.stdout)


def _first_times(
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
    states: tuple[str, ...],
    final: str,
) -> dict[str, datetime]:
    """Each incident's first resolution (or close) from the CSV, without importer or engine:
    the first row in one of ``states``; ServiceNow's ``resolved_at`` / ``closed_at`` when it
    is not after that row's save (a later value describes a later resolution or save), else
    the save time; never before ``opened_at``."""
    out = {}
    for number, truth in truths.items():
        row = next(r for r in raw_rows[number] if r["incident_state"] in states)
        saved = _row_time(row["sys_updated_at"])
        own: datetime | None = getattr(truth, final)
        moment = own if own is not None and own <= saved else saved
        out[number] = max(moment, truth.opened_at)
    return out


def _window_start(as_of: datetime) -> datetime:
    """SPEC §4: the last 96 quarter-hour panes including the one that holds ``as_of``."""
    pane = as_of.replace(minute=as_of.minute - as_of.minute % 15, second=0, microsecond=0)
    return pane - 95 * timedelta(minutes=15)


def _check_shape(report: dict[str, Any]) -> None:
    assert set(report) == {"as_of", "windows", "live"}
    assert set(report["windows"]) == {"1h", "24h"}
    for window in report["windows"].values():
        assert set(window) == {"overall", "teams", "agents"}
        assert set(window["overall"]) == KPI_KEYS | TEAM_KEYS
        for team in window["teams"].values():
            assert set(team) == KPI_KEYS | TEAM_KEYS
        for agent in window["agents"].values():
            assert set(agent) == KPI_KEYS | {"team", "weighted_score"}
    assert set(report["live"]["overall"]) == LIVE_KEYS


@pytest.mark.parametrize(
    "as_of",
    [None, "2016-03-03T00:00:00Z"],
    ids=["default-as-of", "busiest-day"],
)
def test_cli_import_then_replay(
    as_of: str | None,
    events: list[Event],
    backfill: list[Any],
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
) -> None:
    """The pipeline a team would run. Replay feeds the importer's file order, unsorted: that
    is fine for the report's windows (a fact in the last 24 h is never older than 25 h behind
    the watermark), not for a backfill of every pane: the report equals that of the sorted
    backfill up to the same as-of. The default as-of (the latest event, a close in February
    2017) has a nearly empty 24 h window, so the busiest day, 2 March 2016, is checked too."""
    report = _cli() if as_of is None else _cli("--as-of", as_of)
    _check_shape(report)
    if as_of is None:
        latest = max(_at(e) for e in events)
        moment = latest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    else:
        moment = datetime.fromisoformat(as_of)
    assert report["as_of"] == moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    start = _window_start(moment)

    def in_window(times: dict[str, datetime]) -> int:
        return sum(start <= t < moment for t in times.values())

    first_resolved = _first_times(truths, raw_rows, ("Resolved", "Closed"), "resolved_at")
    first_closed = _first_times(truths, raw_rows, ("Closed",), "closed_at")
    opened = {n: t.opened_at for n, t in truths.items()}
    overall = report["windows"]["24h"]["overall"]
    expected = {
        "conversations_resolved": in_window(first_resolved),
        "conversations_closed": in_window(first_closed),
        "conversations_created": in_window(opened),
    }
    print(f"24h window [{start:%Y-%m-%d %H:%M}, {moment:%Y-%m-%d %H:%M}): {expected}")
    assert {k: overall[k] for k in expected} == expected
    if as_of is None:
        assert expected == {
            "conversations_resolved": 0,
            "conversations_closed": 1,
            "conversations_created": 0,
        }
    else:
        assert expected == {
            "conversations_resolved": 182,
            "conversations_closed": 1,
            "conversations_created": 368,
        }
    resolved = overall["conversations_resolved"]
    assert overall["resolution_seconds"]["count"] == resolved
    sla = overall["sla"]["resolution"]
    assert sla["achieved"] + sla["breached"] == resolved
    assert overall["abandoned"] == 0 and overall["fcr_ratio"] is None
    assert overall["first_response_seconds"]["count"] == 0

    # The same report from the sorted backfill in process (events before as-of only).
    engine = _engine()
    as_of_ms = to_epoch_ms(moment)
    _run(engine, (e for e in backfill if to_epoch_ms(e.at) < as_of_ms))
    assert orjson.loads(orjson.dumps(engine.report(as_of_ms))) == report

    live = report["live"]["overall"]
    # No messages: every unresolved incident awaits a "first response" (SPEC §4), although the
    # importer's docstring says this is empty for a ServiceNow backfill.
    assert live["awaiting_first_response"] == live["open"] + live["waiting_on_customer"]
    if as_of is not None:
        assert live["awaiting_first_response"] > 0
