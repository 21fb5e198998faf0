"""The ServiceNow importer, on the real UCI incident log and on hand-written snippets.

The real-data tests measure how far KPIs computed from the emitted events agree with ServiceNow's
own columns (``reopen_count``, ``reassignment_count``, ``resolved_at``, ``closed_at``). Each
threshold is the measured agreement on the 5,998-row sample, and every disagreement must fall in
one of the explained categories (see ``service.importers.servicenow``), so a change in the
converter that loses agreement or creates an unexplained difference fails here. Run with ``-s``
to see the differences listed.
"""

import csv
import io
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from servicenow_log import open_log

from schemas import event_adapter
from service.importers.servicenow import (
    ImportStats,
    IncidentTruth,
    convert_incident_log,
    incident_truths,
    run_import,
    write_events,
)

Event = dict[str, Any]


# --------------------------------------------------------------------------- real data


def _convert_log() -> tuple[list[Event], ImportStats]:
    stats = ImportStats()
    with open_log() as source:
        events = list(convert_incident_log(source, stats=stats))
    return events, stats


@pytest.fixture(scope="module")
def converted() -> tuple[list[Event], ImportStats]:
    return _convert_log()


@pytest.fixture(scope="module")
def events(converted: tuple[list[Event], ImportStats]) -> list[Event]:
    return converted[0]


@pytest.fixture(scope="module")
def by_incident(events: list[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event["conversation_id"]].append(event)
    return grouped


def _at(event: Event) -> datetime:
    return datetime.fromisoformat(event["at"])


def _report(title: str, diffs: list[str]) -> None:
    print(f"\n{title}: {len(diffs)} difference(s)")
    for line in diffs:
        print("  " + line)


def test_every_event_validates(events: list[Event]) -> None:
    for event in events:
        event_adapter.validate_python(event)


def test_counts_rows_incidents_and_nothing_skipped(
    converted: tuple[list[Event], ImportStats],
) -> None:
    events, stats = converted
    assert stats.rows_read == 5998
    assert stats.rows_skipped == 0, stats.skipped
    assert stats.incidents == 890
    assert stats.events_written == len(events)
    assert sum(stats.events_by_type.values()) == len(events)
    assert "message.created" not in stats.events_by_type  # none, by design


def test_one_created_per_incident(
    events: list[Event], by_incident: dict[str, list[Event]], truths: dict[str, IncidentTruth]
) -> None:
    created = Counter(e["conversation_id"] for e in events if e["type"] == "conversation.created")
    assert len(created) == 890
    assert set(created.values()) == {1}
    assert set(created) == set(truths) == set(by_incident)
    for incident_events in by_incident.values():
        assert incident_events[0]["type"] == "conversation.created"


def test_ids_unique_and_stable_across_runs(events: list[Event]) -> None:
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    again, _ = _convert_log()
    assert [e["id"] for e in again] == ids
    assert again == events


def test_events_of_an_incident_never_go_back_in_time(
    by_incident: dict[str, list[Event]], converted: tuple[list[Event], ImportStats]
) -> None:
    for number, incident_events in by_incident.items():
        times = [_at(e) for e in incident_events]
        assert times == sorted(times), number
    # Guaranteed by moving the few updates stamped before the incident's previous event (rows
    # stamped before an opened_at that was edited later) up to that event; counted, not hidden.
    moved = converted[1].notes["time before the incident's previous event (moved up to it)"]
    assert moved == 3


def _reopens(incident_events: list[Event]) -> int:
    status, count = "open", 0
    for event in incident_events:
        if event["type"] == "conversation.status_changed":
            if status == "resolved" and event["status"] == "open":
                count += 1
            status = event["status"]
    return count


def test_reopens_match_reopen_count(
    by_incident: dict[str, list[Event]], truths: dict[str, IncidentTruth]
) -> None:
    diffs = []
    for number, truth in truths.items():
        mine = _reopens(by_incident[number])
        if mine != truth.reopen_count:
            diffs.append(f"{number}: events {mine}, reopen_count {truth.reopen_count}")
    _report("reopens vs reopen_count", diffs)
    # Every reopen is a Resolved -> Active row in the log itself, so nothing is lost: all agree.
    assert sum(t.reopen_count or 0 for t in truths.values()) == 11
    assert len(diffs) == 0


def _team_changes(incident_events: list[Event]) -> int:
    team, changes = None, 0
    for event in incident_events:
        if "team" in event:
            if team is not None and event["team"] != team:
                changes += 1
            team = event["team"]
    return changes


def _group_changes(rows: list[dict[str, str]]) -> int:
    return sum(a["assignment_group"] != b["assignment_group"] for a, b in pairwise(rows))


def test_reassignment_count_is_group_changes(
    by_incident: dict[str, list[Event]],
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
) -> None:
    """``reassignment_count`` counts assignment_group changes; the events carry only some."""
    n = len(truths)
    in_rows = in_events = agent_changes = lost = 0
    diffs = []
    for number, truth in truths.items():
        rows, incident_events = raw_rows[number], by_incident[number]
        expected = truth.reassignment_count
        assert expected is not None
        if _group_changes(rows) == expected:
            in_rows += 1
        else:
            # ServiceNow raised the count on a row whose group did not change.
            assert any(
                a["assignment_group"] == b["assignment_group"]
                and a["reassignment_count"] != b["reassignment_count"]
                for a, b in pairwise(rows)
            ), number
        seen = _team_changes(incident_events)
        if seen == expected:
            in_events += 1
        else:
            # Never an invented change, only lost ones: a group change alone rides on the
            # incident's next event, so groups left again before it (or "?") are not seen.
            assert seen < expected, number
            lost += expected - seen
            diffs.append(f"{number}: team changes in events {seen}, reassignment_count {expected}")
        assigned = sum(e["type"] == "conversation.assigned" for e in incident_events)
        agent_changes += max(assigned - 1, 0) == expected
    _report("team changes vs reassignment_count", diffs)
    print(
        f"reassignment_count agreement of {n}: group changes in rows {in_rows}, "
        f"team changes in events {in_events} ({lost} changes lost), agent changes {agent_changes}"
    )
    # The reading of the column: 887 / 890 agree with the rows (3 raised without a group change).
    assert in_rows / n >= 0.99
    # Measured 718 / 890 (80.7 %): the loss is the carry-on-next-event rule, not a defect; a
    # drop below means the converter lost team changes it used to carry.
    assert in_events / n >= 0.80
    # Agent changes (506 / 890) are a different quantity: why they are not the comparison.
    assert agent_changes / n < 0.6


def test_resolution_time_matches_resolved_at(
    by_incident: dict[str, list[Event]],
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
) -> None:
    with_truth = agree = 0
    diffs = []
    reasons: Counter[str] = Counter()
    for number, truth in truths.items():
        incident_events = by_incident[number]
        created = _at(incident_events[0])
        resolved = next(
            _at(e)
            for e in incident_events
            if e["type"] == "conversation.status_changed" and e["status"] == "resolved"
        )  # every incident of the sample is resolved in the events
        if truth.resolved_at is None:
            reasons["no resolved_at (resolved on the row that opened it)"] += 1
            assert raw_rows[number][0]["incident_state"] == "Resolved", number
            continue
        with_truth += 1
        mine = (resolved - created).total_seconds()
        theirs = (truth.resolved_at - truth.opened_at).total_seconds()
        if mine == theirs:
            agree += 1
            continue
        # ServiceNow's resolved_at is the last resolution; the events keep the first.
        assert mine < theirs, number
        resolved_rows = [r for r in raw_rows[number] if r["incident_state"] == "Resolved"]
        if (truth.reopen_count or 0) > 0:
            reason = "reopened: ServiceNow keeps the last resolution"
        else:
            assert len(resolved_rows) >= 2, number
            reason = "saved again while Resolved: ServiceNow moved resolved_at"
        reasons[reason] += 1
        diffs.append(f"{number}: events {mine:.0f} s, ServiceNow {theirs:.0f} s ({reason})")
    _report("resolution time vs resolved_at - opened_at", diffs)
    print(f"resolution time agrees for {agree} of {with_truth}; {dict(reasons)}")
    assert with_truth == 861
    # Measured 835 / 861 (97.0 %); every other one is of the two kinds asserted above.
    assert agree / with_truth >= 0.96
    assert reasons["reopened: ServiceNow keeps the last resolution"] == 10
    assert reasons["no resolved_at (resolved on the row that opened it)"] == 29


def test_time_to_close_matches_closed_at(
    by_incident: dict[str, list[Event]],
    truths: dict[str, IncidentTruth],
    raw_rows: dict[str, list[dict[str, str]]],
) -> None:
    agree = 0
    diffs = []
    for number, truth in truths.items():
        incident_events = by_incident[number]
        closes = [
            e
            for e in incident_events
            if e["type"] == "conversation.status_changed" and e["status"] == "closed"
        ]
        assert len(closes) == 1, number
        assert closes[0]["by"] == "system"  # every sample close follows a resolution
        assert truth.closed_at is not None
        mine = (_at(closes[0]) - _at(incident_events[0])).total_seconds()
        theirs = (truth.closed_at - truth.opened_at).total_seconds()
        if mine == theirs:
            agree += 1
        else:
            # Saved again while Closed: closed_at moved to the last save; the events close once.
            assert sum(r["incident_state"] == "Closed" for r in raw_rows[number]) >= 2, number
            diffs.append(f"{number}: events {mine:.0f} s, ServiceNow {theirs:.0f} s")
    _report("time to close vs closed_at - opened_at", diffs)
    assert agree == 886


# --------------------------------------------------------------------------- snippets

HEADER = (
    "number,incident_state,active,reassignment_count,reopen_count,sys_mod_count,made_sla,"
    "caller_id,opened_by,opened_at,sys_created_by,sys_created_at,sys_updated_by,sys_updated_at,"
    "contact_type,location,category,subcategory,u_symptom,cmdb_ci,impact,urgency,priority,"
    "assignment_group,assigned_to,knowledge,u_priority_confirmation,notify,problem_id,rfc,"
    "vendor,caused_by,closed_code,resolved_by,resolved_at,closed_at"
)
COLUMNS = HEADER.split(",")
DEFAULTS = {
    "number": "INC1",
    "incident_state": "New",
    "active": "TRUE",
    "reassignment_count": "0",
    "reopen_count": "0",
    "sys_mod_count": "0",
    "made_sla": "TRUE",
    "caller_id": "Caller 7",
    "opened_by": "Opened by 1",
    "opened_at": "01-03-2016 09:00",
    "sys_created_by": "Created by 1",
    "sys_created_at": "01-03-2016 09:00",
    "sys_updated_by": "Updated by 1",
    "sys_updated_at": "01-03-2016 09:00",
    "contact_type": "Phone",
    "priority": "3 - Moderate",
    "assignment_group": "Group 1",
    "assigned_to": "?",
    "knowledge": "TRUE",
    "u_priority_confirmation": "FALSE",
    "notify": "Do Not Notify",
    "closed_code": "code 1",
    "resolved_by": "Resolved by 9",
    "resolved_at": "?",
    "closed_at": "?",
}


def _csv(*rows: dict[str, str]) -> list[str]:
    """A CSV export with one line per row: the defaults overlaid by each row's cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for mod, cells in enumerate(rows):
        values = {**DEFAULTS, "sys_mod_count": str(mod), **cells}
        writer.writerow([values.get(column, "?") for column in COLUMNS])
    return out.getvalue().splitlines(keepends=True)


def _convert(lines: list[str], **kwargs: Any) -> tuple[list[Event], ImportStats]:
    stats = ImportStats()
    converted = list(convert_incident_log(lines, stats=stats, **kwargs))
    for event in converted:
        event_adapter.validate_python(event)
    return converted, stats


def _of(events: list[Event], event_type: str) -> list[Event]:
    return [e for e in events if e["type"] == event_type]


def _statuses(events: list[Event]) -> list[str]:
    return [e["status"] for e in _of(events, "conversation.status_changed")]


@pytest.mark.parametrize(
    ("cell", "priority"),
    [
        ("1 - Critical", "urgent"),
        ("2 - High", "high"),
        ("3 - Moderate", "normal"),
        ("4 - Low", "low"),
        ("5 - Planning", "normal"),
        ("?", "normal"),
    ],
)
def test_priority(cell: str, priority: str) -> None:
    events, _ = _convert(_csv({"priority": cell}))
    assert _of(events, "conversation.created")[0]["priority"] == priority


def test_unknown_priority_is_noted_and_later_changes_counted() -> None:
    _, stats = _convert(_csv({"priority": "5 - Planning"}, {"priority": "2 - High"}))
    assert stats.notes["unknown priority '5 - Planning' (normal)"] == 1
    assert stats.notes["priority changed after creation (first one kept)"] == 1


@pytest.mark.parametrize(
    ("cell", "channel"),
    [
        ("Phone", "phone"),
        ("Email", "email"),
        ("Self service", "other"),
        ("Direct opening", "other"),
        ("IVR", "phone"),
        ("chat", "chat"),
        ("Fax", "other"),
        ("?", "other"),
    ],
)
def test_channel(cell: str, channel: str) -> None:
    events, _ = _convert(_csv({"contact_type": cell}))
    assert _of(events, "conversation.created")[0]["channel"] == channel


def test_created_fields() -> None:
    events, stats = _convert(_csv({"opened_at": "01-03-2016 08:30"}))
    assert events == [
        {
            "id": "servicenow:INC1:created",
            "type": "conversation.created",
            "at": "2016-03-01T08:30:00+00:00",
            "conversation_id": "INC1",
            "channel": "phone",
            "priority": "normal",
            "initiator": "customer",
            "customer_id": "Caller 7",
            "team": "Group 1",
            "source": "servicenow",
        }
    ]
    assert (stats.rows_read, stats.incidents, stats.events_written) == (1, 1, 1)


def test_assignment_transfer_and_unassignment() -> None:
    events, _ = _convert(
        _csv(
            {"assigned_to": "?"},
            {"assigned_to": "Resolver 1", "sys_updated_at": "01-03-2016 09:05"},
            {"assigned_to": "Resolver 1", "sys_updated_at": "01-03-2016 09:06"},
            {"assigned_to": "Resolver 2", "sys_updated_at": "01-03-2016 09:10"},
            {"assigned_to": "?", "sys_updated_at": "01-03-2016 09:20"},
            {"assigned_to": "Resolver 2", "sys_updated_at": "01-03-2016 09:30"},
        )
    )
    moves = [(e["type"], e.get("agent_id"), e["at"][11:16]) for e in events[1:]]
    assert moves == [
        ("conversation.assigned", "Resolver 1", "09:05"),
        ("conversation.assigned", "Resolver 2", "09:10"),
        ("conversation.unassigned", None, "09:20"),
        ("conversation.assigned", "Resolver 2", "09:30"),
    ]
    assert all(e["team"] == "Group 1" for e in events)
    assert events[1]["id"] == "servicenow:INC1:1:assigned"
    assert events[3]["id"] == "servicenow:INC1:4:unassigned"


def test_assigned_on_the_first_row() -> None:
    events, _ = _convert(_csv({"assigned_to": "Resolver 5", "sys_updated_at": "01-03-2016 09:02"}))
    assert [e["type"] for e in events] == ["conversation.created", "conversation.assigned"]
    assert events[1]["agent_id"] == "Resolver 5"
    assert events[1]["at"] == "2016-03-01T09:02:00+00:00"


def test_group_change_alone_is_carried_by_the_next_event() -> None:
    events, _ = _convert(
        _csv(
            {"assignment_group": "Group 1"},
            {"assignment_group": "Group 2", "reassignment_count": "1"},
            {"assignment_group": "Group 2", "incident_state": "Active"},
            {
                "assignment_group": "Group 2",
                "incident_state": "Awaiting User Info",
                "sys_updated_at": "01-03-2016 10:00",
            },
        )
    )
    assert [e["type"] for e in events] == [
        "conversation.created",
        "conversation.status_changed",
    ]
    assert events[0]["team"] == "Group 1"
    assert events[1]["team"] == "Group 2"


def test_group_and_assignee_change_together() -> None:
    events, _ = _convert(_csv({}, {"assignment_group": "Group 2", "assigned_to": "Resolver 3"}))
    assert events[1]["type"] == "conversation.assigned"
    assert (events[1]["agent_id"], events[1]["team"]) == ("Resolver 3", "Group 2")


@pytest.mark.parametrize(
    "state",
    ["Awaiting User Info", "Awaiting Problem", "Awaiting Vendor", "Awaiting Evidence", "On Hold"],
)
def test_awaiting_states_are_pending(state: str) -> None:
    events, _ = _convert(
        _csv(
            {},
            {"incident_state": state, "sys_updated_at": "01-03-2016 10:00"},
            {"incident_state": state, "sys_updated_at": "01-03-2016 11:00"},
            {"incident_state": "Active", "sys_updated_at": "01-03-2016 12:00"},
        )
    )
    changes = _of(events, "conversation.status_changed")
    assert [(e["status"], e["by"], e["at"][11:16]) for e in changes] == [
        ("pending", "agent", "10:00"),
        ("open", "system", "12:00"),
    ]


def test_new_and_active_emit_no_status_change() -> None:
    events, _ = _convert(_csv({}, {"incident_state": "Active"}, {"incident_state": "New"}))
    assert _statuses(events) == []


def test_resolve_reopen_resolve_close() -> None:
    rows = _csv(
        {"assigned_to": "Resolver 1"},
        {"incident_state": "Active", "sys_updated_at": "01-03-2016 09:10"},
        {"incident_state": "Resolved", "sys_updated_at": "01-03-2016 10:00"},
        {"incident_state": "Active", "sys_updated_at": "02-03-2016 08:00", "reopen_count": "1"},
        {"incident_state": "Resolved", "sys_updated_at": "02-03-2016 09:00", "reopen_count": "1"},
        {"incident_state": "Closed", "sys_updated_at": "07-03-2016 10:00", "reopen_count": "1"},
    )
    rows = [line.replace(",?,?\n", ",02-03-2016 09:00,07-03-2016 10:00\n") for line in rows]
    events, _ = _convert(rows)
    changes = _of(events, "conversation.status_changed")
    assert [(e["status"], e["by"], e.get("agent_id"), e["at"]) for e in changes] == [
        ("resolved", "agent", "Resolved by 9", "2016-03-01T10:00:00+00:00"),
        ("open", "system", None, "2016-03-02T08:00:00+00:00"),
        ("resolved", "agent", "Resolved by 9", "2016-03-02T09:00:00+00:00"),
        ("closed", "system", "Resolved by 9", "2016-03-07T10:00:00+00:00"),
    ]
    assert [e["id"] for e in changes] == [
        "servicenow:INC1:2:status-resolved",
        "servicenow:INC1:3:status-open",
        "servicenow:INC1:4:status-resolved",
        "servicenow:INC1:5:status-closed",
    ]
    with io.StringIO("".join(rows)) as source:
        truth = incident_truths(source)["INC1"]
    assert truth.reopen_count == 1
    assert truth.resolved_at == datetime.fromisoformat("2016-03-02T09:00:00+00:00")
    assert truth.closed_at == datetime.fromisoformat("2016-03-07T10:00:00+00:00")
    assert truth.reassignment_count == 0
    assert truth.made_sla is True


def test_resolved_at_is_used_when_it_describes_this_resolution() -> None:
    events, _ = _convert(
        _csv(
            {"sys_updated_at": "01-03-2016 09:00"},
            {
                "incident_state": "Resolved",
                "sys_updated_at": "01-03-2016 11:00",
                "resolved_at": "01-03-2016 10:45",
            },
        )
    )
    assert _of(events, "conversation.status_changed")[0]["at"] == "2016-03-01T10:45:00+00:00"


def test_resolved_at_of_a_later_resolution_is_not_used() -> None:
    # resolved_at holds the incident's final value on every row; here a later re-resolution.
    events, _ = _convert(
        _csv(
            {"resolved_at": "03-03-2016 12:00"},
            {
                "incident_state": "Resolved",
                "sys_updated_at": "01-03-2016 11:00",
                "resolved_at": "03-03-2016 12:00",
            },
        )
    )
    assert _of(events, "conversation.status_changed")[0]["at"] == "2016-03-01T11:00:00+00:00"


def test_closed_is_terminal_and_closes_once() -> None:
    events, stats = _convert(
        _csv(
            {},
            {"incident_state": "Resolved", "sys_updated_at": "01-03-2016 10:00"},
            {
                "incident_state": "Closed",
                "sys_updated_at": "06-03-2016 10:00",
                "closed_at": "09-03-2016 12:00",
            },
            {
                "incident_state": "Closed",
                "sys_updated_at": "09-03-2016 12:00",
                "closed_at": "09-03-2016 12:00",
            },
            {"incident_state": "Active", "sys_updated_at": "10-03-2016 12:00"},
        )
    )
    assert _statuses(events) == ["resolved", "closed"]
    close = _of(events, "conversation.status_changed")[-1]
    assert close["at"] == "2016-03-06T10:00:00+00:00"  # the first close, not the re-saved one
    assert stats.notes["update after Closed ignored"] == 1


def test_close_without_resolution_is_by_agent() -> None:
    events, _ = _convert(
        _csv({}, {"incident_state": "Closed", "sys_updated_at": "01-03-2016 10:00"})
    )
    close = _of(events, "conversation.status_changed")[0]
    assert (close["status"], close["by"]) == ("closed", "agent")


def test_question_marks_are_missing_values() -> None:
    events, _ = _convert(
        _csv(
            {"caller_id": "?", "assignment_group": "?", "assigned_to": "?"},
            {
                "caller_id": "?",
                "assignment_group": "?",
                "incident_state": "Resolved",
                "resolved_by": "?",
                "resolved_at": "?",
                "sys_updated_at": "01-03-2016 09:30",
            },
        )
    )
    created, resolved = events
    assert "customer_id" not in created and "team" not in created
    assert resolved["type"] == "conversation.status_changed"
    assert "agent_id" not in resolved and "team" not in resolved
    assert resolved["at"] == "2016-03-01T09:30:00+00:00"


def test_timezone_option_gives_the_offset() -> None:
    rows = _csv(
        {"opened_at": "01-03-2016 09:00"},
        {"incident_state": "Resolved", "sys_updated_at": "01-07-2016 09:00"},
    )
    events, _ = _convert(rows, timezone="America/New_York")
    assert events[0]["at"] == "2016-03-01T09:00:00-05:00"
    assert events[1]["at"] == "2016-07-01T09:00:00-04:00"  # daylight saving time
    utc, _ = _convert(rows)
    assert utc[0]["at"] == "2016-03-01T09:00:00+00:00"


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        convert_incident_log(_csv({}), timezone="Mars/Olympus")


def test_uci_original_date_format_is_accepted() -> None:
    events, _ = _convert(_csv({"opened_at": "1/3/2016 9:05", "sys_updated_at": "1/3/2016 9:07"}))
    assert events[0]["at"] == "2016-03-01T09:05:00+00:00"


def test_malformed_rows_are_skipped_and_counted() -> None:
    lines = _csv(
        {"number": "INC1"},
        {"number": "INC2", "opened_at": "31-02-2016 09:00"},
        {"number": "INC3", "sys_updated_at": "yesterday"},
        {"number": "INC4", "resolved_at": "2016-03-01"},
        {"number": "?"},
        {"number": "INC6", "sys_updated_at": "?"},
        {"number": "INC7"},
    )
    lines.insert(3, "INC9,New,TRUE,0\n")  # too few columns
    lines.insert(4, lines[1].rstrip("\n") + ",extra\n")  # too many
    lines.insert(5, "\n")  # a blank line is not a row
    events, stats = _convert(lines)
    assert [e["conversation_id"] for e in _of(events, "conversation.created")] == ["INC1", "INC7"]
    assert stats.rows_read == 9
    assert stats.rows_skipped == 7
    assert stats.skipped == Counter(
        {
            "wrong number of columns": 2,
            "bad date in opened_at": 1,
            "bad date in sys_updated_at": 1,
            "bad date in resolved_at": 1,
            "missing number": 1,
            "missing sys_updated_at": 1,
        }
    )


def test_missing_columns_are_refused() -> None:
    lines = ["number,incident_state\n", "INC1,New\n"]
    with pytest.raises(ValueError, match="missing column"):
        list(convert_incident_log(lines))
    with pytest.raises(ValueError, match="empty"):
        list(convert_incident_log([]))


def test_header_with_bom_and_reordered_columns() -> None:
    lines = _csv({"assigned_to": "Resolver 1"})
    rows = list(csv.reader(lines))
    order = list(reversed(range(len(rows[0]))))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] for i in order])
    events, _ = _convert(
        [
            "\ufeff" + text.getvalue().splitlines(keepends=True)[0],
            *text.getvalue().splitlines(keepends=True)[1:],
        ]
    )
    assert [e["type"] for e in events] == ["conversation.created", "conversation.assigned"]


def test_non_contiguous_incident_continues_its_state() -> None:
    events, stats = _convert(
        _csv(
            {"number": "INC1", "assigned_to": "Resolver 1"},
            {"number": "INC2"},
            {
                "number": "INC1",
                "assigned_to": "Resolver 1",
                "sys_mod_count": "5",
                "incident_state": "Resolved",
                "sys_updated_at": "01-03-2016 10:00",
            },
        )
    )
    assert [(e["conversation_id"], e["type"]) for e in events] == [
        ("INC1", "conversation.created"),
        ("INC1", "conversation.assigned"),
        ("INC2", "conversation.created"),
        ("INC1", "conversation.status_changed"),
    ]
    assert stats.incidents == 2
    assert stats.notes["incident rows not contiguous (continued from its earlier rows)"] == 1


def test_repeated_sys_mod_count_gets_unique_ids() -> None:
    events, _ = _convert(
        _csv(
            {"assigned_to": "Resolver 1", "sys_mod_count": "2"},
            {"assigned_to": "Resolver 2", "sys_mod_count": "2"},
            {"assigned_to": "Resolver 3", "sys_mod_count": "2"},
        )
    )
    assert [e["id"] for e in events[1:]] == [
        "servicenow:INC1:2:assigned",
        "servicenow:INC1:2:assigned#2",
        "servicenow:INC1:2:assigned#3",
    ]


def test_update_stamped_before_opened_at_moves_up_to_it() -> None:
    events, stats = _convert(
        _csv(
            {
                "opened_at": "01-03-2016 09:40",
                "sys_updated_at": "01-03-2016 07:14",
                "incident_state": "Active",
                "assigned_to": "Resolver 1",
            }
        )
    )
    assert [e["at"] for e in events] == ["2016-03-01T09:40:00+00:00"] * 2
    assert stats.notes["time before the incident's previous event (moved up to it)"] == 1


def test_unknown_state_leaves_status_unchanged() -> None:
    events, stats = _convert(_csv({}, {"incident_state": "-100"}, {"incident_state": "Resolved"}))
    assert _statuses(events) == ["resolved"]
    assert stats.notes["unknown incident_state '-100' (status unchanged)"] == 1


def test_conversion_streams() -> None:
    """The first incident's events come out before later input is read."""

    def lines() -> Iterator[str]:
        yield from _csv({"number": "INC1"}, {"number": "INC2"})
        raise AssertionError("read past the rows needed")

    stream = convert_incident_log(lines())
    assert next(stream)["conversation_id"] == "INC1"


def test_write_events_and_run_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.csv"
    lines = _csv(
        {"assigned_to": "Resolver 1"}, {"assigned_to": "Resolver 1", "incident_state": "Resolved"}
    )
    lines.append("broken,row\n")
    path.write_text("".join(lines), encoding="utf-8")

    out = io.StringIO()
    stats = write_events(str(path), out, "UTC")
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["type"] for e in written] == [
        "conversation.created",
        "conversation.assigned",
        "conversation.status_changed",
    ]
    assert (stats.rows_read, stats.events_written, stats.rows_skipped) == (3, 3, 1)

    assert run_import([str(path), "--timezone", "Europe/Lisbon"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == [
        e["id"] for e in written
    ]
    assert "3 rows read, 1 incidents, 3 events written, 1 rows skipped" in captured.err
    assert "wrong number of columns" in captured.err

    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(lines)))
    assert run_import(["-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3

    assert run_import([str(tmp_path / "absent.csv")]) == 1
    assert "absent.csv" in capsys.readouterr().err
    assert run_import([str(path), "--timezone", "Nowhere/Else"]) == 2
    assert "unknown timezone" in capsys.readouterr().err
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert run_import([str(tmp_path / "other.csv")]) == 1
    assert "missing column" in capsys.readouterr().err
