"""Convert a ServiceNow incident event log (CSV) into canonical events (SPEC §2).

``support-kpi import servicenow FILE|- [--timezone TZ]`` reads an export with one row per
update of an incident (the layout of the UCI "Incident management process enriched event log":
``number, incident_state, ..., sys_mod_count, ..., opened_at, ..., sys_updated_at, contact_type,
..., priority, assignment_group, assigned_to, ..., resolved_by, resolved_at, closed_at``) and
writes one JSON event per line on stdout, so a team can backfill the KPIs from an export.

Input
-----
- Columns are found by name in the header; extra columns are ignored and their order does not
  matter. ``?`` or an empty cell means missing.
- Dates are day first, ``dd-mm-yyyy HH:MM`` (Excel re-save) or ``d/m/yyyy H:MM`` (the UCI
  original), optionally with ``:SS``. They carry no offset: ``--timezone`` (an IANA name,
  default UTC) says which wall clock they are on, and every emitted ``at`` carries that zone's
  offset at that instant (a wall time repeated when clocks go back is read as its first
  occurrence).
- The file is read as a stream, one row at a time. Rows of one incident are normally contiguous;
  the converter keeps a small state per incident number (status, assignee, team, last ``at``),
  so an incident whose rows come back later continues where it stopped instead of being created
  twice.
- A row with the wrong number of cells, no incident number, or a date that does not parse in
  ``opened_at``, ``sys_updated_at``, ``resolved_at`` or ``closed_at`` is skipped and counted
  with its reason; it never stops the import.

Mapping
-------
- One conversation per incident: ``conversation_id`` = ``number``, ``source`` = "servicenow".
- ``conversation.created`` at ``opened_at``, on the incident's first row: ``team`` =
  ``assignment_group``; ``priority`` from ``priority`` ("1 - Critical" urgent, "2 - High" high,
  "3 - Moderate" normal, "4 - Low" low, else normal); ``channel`` from ``contact_type`` (Phone
  and IVR phone, Email email, Chat chat, Self service and Direct opening other, else other);
  ``customer_id`` = ``caller_id``; ``initiator`` customer. Later priority changes cannot be
  expressed as events and are counted in the notes; the first row's priority is kept.
- Every update row is compared with the incident's previous row, and only changes become
  events, at the row's ``sys_updated_at``:
  ``assigned_to`` set to a new person gives ``conversation.assigned`` (``agent_id`` =
  ``assigned_to``, ``method`` left at push: ServiceNow does not say whether the agent took it);
  ``assigned_to`` becoming ``?`` gives ``conversation.unassigned``. The assignment event comes
  before the status event of the same row.
- Every event carries ``team`` = the row's ``assignment_group`` (when known), so a change of group
  alone is carried by the incident's next event: a conversation belongs to the team last set on
  it. A group that is left again before the next event is not seen downstream.
- ``incident_state`` gives a status (case-insensitive): New, Active, In Progress: open;
  Awaiting ... (User Info, Problem, Vendor, Evidence) and On Hold: pending; Resolved: resolved;
  Closed: closed. Other states (e.g. Canceled, or the UCI ``-100``) leave the status unchanged
  and are counted in the notes. A ``conversation.status_changed`` is emitted only when the
  mapped status changes, so Resolved to Active is a reopen (resolved to open), and repeated
  Active / New rows emit nothing.
  * resolved: ``by`` agent, ``agent_id`` = ``resolved_by``; ``at`` = ``resolved_at`` when it lies
    between the incident's previous event and the row's ``sys_updated_at`` (i.e. it describes
    this resolution), else ``sys_updated_at``.
  * closed: ``at`` = ``closed_at`` under the same rule. After a resolution the close is ``by``
    system (ServiceNow's scheduled job closes resolved incidents after a grace period; in the
    sample every close follows a resolution, and the 890 closes fall on only 195 distinct
    minutes, 544 of them on the hour),
    with ``agent_id`` = ``resolved_by`` so time to close is credited like the resolution. A close
    straight from open or pending is ``by`` agent: SPEC §3 would count a system close before any
    human response as an abandonment, and a fulfiller closing an open incident is not one.
    Closed is terminal: later rows of a closed incident emit nothing (counted if they differ).
  * pending: ``by`` agent (only a fulfiller sets the Awaiting states). open: ``by`` system,
    the default, as the log does not say whether the caller or a fulfiller reopened it.
- Caveat on ``resolved_by``: in the UCI data it is pseudonymised separately from ``assigned_to``
  ("Resolved by 149" vs "Resolver 31"; the numbers agree for 5 of 673 incidents, i.e. by chance),
  so the resolving agent of a backfill is not the same key as the assignee. Like ``resolved_at``
  it holds the incident's final value on every row, so for a reopened incident the first
  resolution is credited to the last resolver.
- Event ids are deterministic: ``servicenow:{number}:created`` and
  ``servicenow:{number}:{sys_mod_count}:{kind}`` (kind ``assigned``, ``unassigned`` or
  ``status-{status}``), so importing the same export again yields the same ids and the duplicates
  de-duplicate downstream. ``sys_mod_count`` is not always unique within an incident (5 of 890
  sample incidents repeat one); a repeated ``{sys_mod_count}:{kind}`` gets a ``#2``, ``#3`` ...
  suffix in file order, so ids stay unique and stable for the same file.
- Order: rows are applied in file order (the log order; ``sys_mod_count`` is out of sequence in
  a few incidents). ``at`` never goes backwards within an incident: an update stamped before the
  incident's previous event is moved to that event's time and counted in the notes. In the
  sample this moves 3 events, in incidents whose ``opened_at`` was edited to a time after their
  first updates (``sys_created_at`` precedes ``opened_at`` there); without it they would have
  events before their own ``conversation.created``.

No message events: first response is not in the log
---------------------------------------------------
ServiceNow's incident log has no messages, no caller / fulfiller comments and no "first
response" timestamp, so this importer emits no ``message.created`` at all. The first response,
next response and FCR KPIs are therefore empty for a ServiceNow backfill, while every unresolved
incident counts as awaiting a first response in the live state (and, past the target, as
breaching the first-response SLA), as SPEC §4 defines it. Resolution, time to close, wait time,
reopens, assignments and the resolution SLA are what the log supports. The nearest signal is the
first move to "Awaiting User Info" (a fulfiller asked the caller something, so someone had
contacted the caller by then; 291 of the 890 sample incidents have one before their first
resolution). It is at best an upper bound on the first response, it is missing for most
incidents, and a made-up agent message would also start next-response clocks and count in FCR,
so it is not turned into an event.

ServiceNow's own answers
------------------------
``resolved_at``, ``closed_at``, ``reopen_count``, ``reassignment_count`` and ``made_sla`` are not
turned into events beyond the above; :func:`incident_truths` returns them (from each incident's
last row) so the KPIs computed from the events can be checked against them. On the sample
(``incident_event_log_head5998.csv``, 5,998 rows, 890 incidents; measured by
``tests/unit/importers/test_servicenow.py``):

- Reopens (resolved to open transitions emitted) equal ``reopen_count`` for 890 of 890 incidents.
- ``reassignment_count`` counts changes of ``assignment_group`` (to and from ``?`` included),
  not of the assignee: the group changes in the rows equal it for 887 of 890 incidents (in the 3
  others ServiceNow raised it on a row whose group did not change). The team changes visible in
  the emitted events equal it for 718 of 890 (80.7 %); the 172 others lose 437 changes, never
  gain one, because a change of group alone rides on the incident's next event (SPEC §2 has no
  team-only event), so a group left again before that event, or a change to ``?``, is not seen
  (e.g. INC0000065 goes through six groups while New and shows one change). KPIs are unaffected:
  SPEC §3 credits the team at the stop. Agent changes (``conversation.assigned`` after the
  first) equal it for only 506 of 890: they count a different thing.
- Resolution time (first resolved ``status_changed`` minus ``conversation.created``) equals
  ``resolved_at - opened_at`` for 835 of the 861 incidents that have a ``resolved_at`` (97.0 %).
  In the 26 others the events are always the shorter: 10 were reopened, and ServiceNow keeps the
  last resolution while SPEC §3 measures the first; 16 were saved again while Resolved and
  ServiceNow moved ``resolved_at`` to that later save. The 29 incidents without a
  ``resolved_at`` are exactly those whose first logged row is already Resolved; the events
  still resolve them.
- Time to close equals ``closed_at - opened_at`` for 886 of 890; the 4 others were saved again
  while Closed and ServiceNow moved ``closed_at`` to the last save, while the events close once.
"""

import argparse
import csv
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

__all__ = [
    "SOURCE",
    "ImportStats",
    "IncidentTruth",
    "convert_incident_log",
    "incident_truths",
    "run_import",
    "write_events",
]

SOURCE = "servicenow"

_PRIORITIES = {
    "1 - critical": "urgent",
    "2 - high": "high",
    "3 - moderate": "normal",
    "4 - low": "low",
}
_CHANNELS = {
    "phone": "phone",
    "ivr": "phone",
    "email": "email",
    "chat": "chat",
    "self service": "other",
    "self-service": "other",
    "direct opening": "other",
}
_STATES = {
    "new": "open",
    "active": "open",
    "in progress": "open",
    "on hold": "pending",
    "resolved": "resolved",
    "closed": "closed",
}
_STATUS_BY = {"open": "system", "pending": "agent", "resolved": "agent"}

_CONVERT_COLUMNS = (
    "number",
    "incident_state",
    "sys_mod_count",
    "opened_at",
    "sys_updated_at",
    "contact_type",
    "priority",
    "assignment_group",
    "assigned_to",
    "caller_id",
    "resolved_by",
    "resolved_at",
    "closed_at",
)
_TRUTH_COLUMNS = ("reopen_count", "reassignment_count", "made_sla")

_DATE = re.compile(r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")


@dataclass(slots=True)
class ImportStats:
    """What an import did: counts for the operator, printed to stderr by the CLI."""

    rows_read: int = 0
    """Data rows seen (the header and blank lines excluded), skipped ones included."""
    incidents: int = 0
    events_written: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    """Skipped rows by reason."""
    notes: Counter[str] = field(default_factory=Counter)
    """Rows converted with an adjustment or loss, by kind (not errors)."""

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        lines = [
            f"servicenow import: {self.rows_read} rows read, {self.incidents} incidents, "
            f"{self.events_written} events written, {self.rows_skipped} rows skipped"
        ]
        lines += [f"  events {kind}: {n}" for kind, n in sorted(self.events_by_type.items())]
        lines += [f"  skipped ({reason}): {n}" for reason, n in self.skipped.most_common()]
        lines += [f"  note ({note}): {n}" for note, n in self.notes.most_common()]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class IncidentTruth:
    """ServiceNow's own answers for one incident, from its last row (times aware, as UTC)."""

    number: str
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int | None
    reassignment_count: int | None
    made_sla: bool | None


class _Time(NamedTuple):
    utc: datetime
    """For comparisons: aware datetimes on one ZoneInfo compare by wall clock, not by instant."""
    text: str
    """RFC 3339 with the zone's offset, as emitted."""


@dataclass(slots=True)
class _Row:
    number: str
    state: str | None
    mod: str | None
    opened: _Time
    updated: _Time
    contact_type: str | None
    priority: str | None
    group: str | None
    assignee: str | None
    caller: str | None
    resolved_by: str | None
    resolved_at: _Time | None
    closed_at: _Time | None
    truth: tuple[str | None, str | None, str | None] | None


@dataclass(slots=True)
class _Incident:
    """What the converter remembers of one incident between its rows."""

    status: str
    assignee: str | None
    team: str | None
    priority: str | None
    last: _Time
    rows: int = 0
    keys: set[str] = field(default_factory=set)


class _RowSkipped(Exception):
    pass


def _missing(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "?") else value


def _time_parser(tz: ZoneInfo) -> Callable[[str], _Time]:
    utc_zone = tz.key == "UTC"

    @lru_cache(maxsize=8192)
    def parse(text: str) -> _Time:
        match = _DATE.fullmatch(text.strip())
        if match is None:
            raise ValueError(text)
        day, month, year, hour, minute, second = match.groups()
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz
        )
        utc = local if utc_zone else local.astimezone(UTC)
        return _Time(utc, local.isoformat())

    return parse


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Europe/Lisbon)"
        ) from error


def _rows(
    lines: Iterable[str], tz: ZoneInfo, stats: ImportStats, *, truths: bool
) -> Iterator[_Row]:
    """Parse the CSV as a stream; a bad row is counted in ``stats.skipped`` and left out."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise ValueError("the input is empty: expected a CSV header row")
    names = [name.strip().lstrip("\ufeff") for name in header]
    index = {name: i for i, name in enumerate(names)}
    needed = _CONVERT_COLUMNS + (_TRUTH_COLUMNS if truths else ())
    absent = [name for name in needed if name not in index]
    if absent:
        raise ValueError(f"not a ServiceNow incident log: missing column(s) {', '.join(absent)}")
    width = len(names)
    (
        number_i,
        state_i,
        mod_i,
        opened_i,
        updated_i,
        contact_i,
        priority_i,
        group_i,
        assignee_i,
        caller_i,
        resolved_by_i,
        resolved_at_i,
        closed_at_i,
    ) = (index[c] for c in _CONVERT_COLUMNS)
    truth_i = tuple(index[c] for c in _TRUTH_COLUMNS) if truths else None
    parse = _time_parser(tz)

    def date(cells: list[str], i: int, column: str) -> _Time | None:
        value = _missing(cells[i])
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError:
            raise _RowSkipped(f"bad date in {column}") from None

    def required_date(cells: list[str], i: int, column: str) -> _Time:
        value = date(cells, i, column)
        if value is None:
            raise _RowSkipped(f"missing {column}")
        return value

    for cells in reader:
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        stats.rows_read += 1
        if len(cells) != width:
            stats.skipped["wrong number of columns"] += 1
            continue
        number = _missing(cells[number_i])
        if number is None:
            stats.skipped["missing number"] += 1
            continue
        try:
            opened = required_date(cells, opened_i, "opened_at")
            updated = required_date(cells, updated_i, "sys_updated_at")
            resolved_at = date(cells, resolved_at_i, "resolved_at")
            closed_at = date(cells, closed_at_i, "closed_at")
        except _RowSkipped as skip:
            stats.skipped[str(skip)] += 1
            continue
        yield _Row(
            number=number,
            state=_missing(cells[state_i]),
            mod=_missing(cells[mod_i]),
            opened=opened,
            updated=updated,
            contact_type=_missing(cells[contact_i]),
            priority=_missing(cells[priority_i]),
            group=_missing(cells[group_i]),
            assignee=_missing(cells[assignee_i]),
            caller=_missing(cells[caller_i]),
            resolved_by=_missing(cells[resolved_by_i]),
            resolved_at=resolved_at,
            closed_at=closed_at,
            truth=None
            if truth_i is None
            else (
                _missing(cells[truth_i[0]]),
                _missing(cells[truth_i[1]]),
                _missing(cells[truth_i[2]]),
            ),
        )


def _status_of(state: str | None) -> str | None:
    if state is None:
        return None
    key = state.strip().lower()
    if key.startswith("awaiting"):
        return "pending"
    return _STATES.get(key)


class _Converter:
    """Turns parsed rows into events, one row at a time; see the module docstring for the rules."""

    def __init__(self, stats: ImportStats) -> None:
        self.stats = stats
        self.incidents: dict[str, _Incident] = {}
        self.previous_number: str | None = None

    def row(self, row: _Row) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        notes = self.stats.notes
        incident = self.incidents.get(row.number)
        if incident is None:
            incident = self._create(row, out)
        elif row.number != self.previous_number:
            notes["incident rows not contiguous (continued from its earlier rows)"] += 1
        self.previous_number = row.number
        incident.rows += 1
        if incident.status == "closed":
            if (row.assignee, row.group) != (incident.assignee, incident.team) or (
                _status_of(row.state) not in ("closed", None)
            ):
                notes["update after Closed ignored"] += 1
            return out
        if row.priority != incident.priority:
            notes["priority changed after creation (first one kept)"] += 1
            incident.priority = row.priority
        incident.team = row.group
        mod = row.mod if row.mod is not None else f"row{incident.rows}"

        if row.assignee != incident.assignee:
            if row.assignee is None:
                out.append(
                    self._event(
                        incident, row, mod, "unassigned", "conversation.unassigned", row.updated
                    )
                )
            else:
                out.append(
                    self._event(
                        incident,
                        row,
                        mod,
                        "assigned",
                        "conversation.assigned",
                        row.updated,
                        agent_id=row.assignee,
                    )
                )
            incident.assignee = row.assignee

        status = _status_of(row.state)
        if status is None:
            notes[f"unknown incident_state {row.state!r} (status unchanged)"] += 1
        elif status != incident.status:
            out.append(self._status_event(incident, row, mod, status))
            incident.status = status
        return out

    def _create(self, row: _Row, out: list[dict[str, Any]]) -> _Incident:
        notes = self.stats.notes
        priority = _PRIORITIES.get((row.priority or "").lower())
        if priority is None:
            notes[f"unknown priority {row.priority!r} (normal)"] += 1
            priority = "normal"
        channel = _CHANNELS.get((row.contact_type or "").lower())
        if channel is None:
            notes[f"unknown contact_type {row.contact_type!r} (other)"] += 1
            channel = "other"
        incident = _Incident(
            status="open", assignee=None, team=row.group, priority=row.priority, last=row.opened
        )
        self.incidents[row.number] = incident
        self.stats.incidents += 1
        event: dict[str, Any] = {
            "id": f"{SOURCE}:{row.number}:created",
            "type": "conversation.created",
            "at": row.opened.text,
            "conversation_id": row.number,
            "channel": channel,
            "priority": priority,
            "initiator": "customer",
        }
        if row.caller is not None:
            event["customer_id"] = row.caller
        if row.group is not None:
            event["team"] = row.group
        event["source"] = SOURCE
        out.append(event)
        return incident

    def _status_event(
        self, incident: _Incident, row: _Row, mod: str, status: str
    ) -> dict[str, Any]:
        at = row.updated
        fields: dict[str, Any] = {"status": status}
        if status in ("resolved", "closed"):
            # The row's resolved_at / closed_at is the incident's final value on every row, so it
            # describes this change only when it is not after this row and not before the
            # incident's previous event.
            own = row.resolved_at if status == "resolved" else row.closed_at
            if own is not None and incident.last.utc <= own.utc <= row.updated.utc:
                at = own
            by = "agent" if status == "resolved" or incident.status != "resolved" else "system"
            fields["by"] = by
            if row.resolved_by is not None:
                fields["agent_id"] = row.resolved_by
        else:
            fields["by"] = _STATUS_BY[status]
        return self._event(
            incident, row, mod, f"status-{status}", "conversation.status_changed", at, **fields
        )

    def _event(
        self,
        incident: _Incident,
        row: _Row,
        mod: str,
        kind: str,
        event_type: str,
        at: _Time,
        **fields: Any,
    ) -> dict[str, Any]:
        key = f"{mod}:{kind}"
        if key in incident.keys:
            n = 2
            while f"{key}#{n}" in incident.keys:
                n += 1
            key = f"{key}#{n}"
        incident.keys.add(key)
        if at.utc < incident.last.utc:
            self.stats.notes["time before the incident's previous event (moved up to it)"] += 1
            at = incident.last
        else:
            incident.last = at
        event: dict[str, Any] = {
            "id": f"{SOURCE}:{row.number}:{key}",
            "type": event_type,
            "at": at.text,
            "conversation_id": row.number,
        }
        event.update(fields)
        if incident.team is not None:
            event["team"] = incident.team
        event["source"] = SOURCE
        return event


def convert_incident_log(
    lines: Iterable[str] | TextIO,
    *,
    timezone: str = "UTC",
    stats: ImportStats | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the canonical events of a ServiceNow incident event log, row by row.

    ``lines`` is the CSV text (header first): an open file (``newline=""`` keeps quoted line
    breaks intact) or any iterable of lines. ``timezone`` is the IANA zone the naive CSV times
    are on. Pass ``stats`` to have rows read, incidents, events and skipped rows counted into
    it. Raises ``ValueError`` at once for an unknown timezone, and on the first ``next()`` for a
    missing header or missing columns.
    """
    tz = _zone(timezone)
    counts = stats if stats is not None else ImportStats()
    return _convert(lines, tz, counts)


def _convert(lines: Iterable[str], tz: ZoneInfo, stats: ImportStats) -> Iterator[dict[str, Any]]:
    converter = _Converter(stats)
    by_type = stats.events_by_type
    for row in _rows(lines, tz, stats, truths=False):
        for event in converter.row(row):
            stats.events_written += 1
            by_type[event["type"]] += 1
            yield event


def incident_truths(
    lines: Iterable[str] | TextIO, *, timezone: str = "UTC"
) -> dict[str, IncidentTruth]:
    """ServiceNow's own answers per incident number, from the incident's last (valid) row.

    Counts and ``made_sla`` are ``None`` where the cell is missing or not a number / boolean.
    """
    tz = _zone(timezone)
    last: dict[str, _Row] = {}
    for row in _rows(lines, tz, ImportStats(), truths=True):
        last[row.number] = row
    return {number: _truth(row) for number, row in last.items()}


def _count(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _truth(row: _Row) -> IncidentTruth:
    reopen, reassignment, made_sla = row.truth or (None, None, None)
    flag = (made_sla or "").upper()
    return IncidentTruth(
        number=row.number,
        opened_at=row.opened.utc,
        resolved_at=None if row.resolved_at is None else row.resolved_at.utc,
        closed_at=None if row.closed_at is None else row.closed_at.utc,
        reopen_count=_count(reopen),
        reassignment_count=_count(reassignment),
        made_sla=True if flag == "TRUE" else False if flag == "FALSE" else None,
    )


def write_events(path_or_dash: str, out: TextIO, timezone: str = "UTC") -> ImportStats:
    """Convert the file at ``path_or_dash`` (``-`` = stdin) and write JSON lines to ``out``."""
    stats = ImportStats()
    tz = _zone(timezone)
    if path_or_dash == "-":
        _write(sys.stdin, out, tz, stats)
    else:
        with open(path_or_dash, encoding="utf-8-sig", newline="") as source:
            _write(source, out, tz, stats)
    return stats


def _write(source: Iterable[str], out: TextIO, tz: ZoneInfo, stats: ImportStats) -> None:
    write = out.write
    for event in _convert(source, tz, stats):
        write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE).decode())
    out.flush()


def _timezone_arg(name: str) -> str:
    try:
        _zone(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name


def run_import(argv: list[str]) -> int:
    """``support-kpi import servicenow FILE|- [--timezone TZ]``: events to stdout, stats to stderr.

    Returns the exit status: 0 done (skipped rows included, they are reported), 1 the input could
    not be read or is not an incident log, 2 bad arguments.
    """
    parser = argparse.ArgumentParser(
        prog="support-kpi import servicenow",
        description="Convert a ServiceNow incident event log (CSV) into canonical events, "
        "one JSON object per line on stdout.",
    )
    parser.add_argument("file", metavar="FILE", help="the CSV export, or - for stdin")
    parser.add_argument(
        "--timezone",
        default="UTC",
        type=_timezone_arg,
        help="IANA timezone of the export's times, which carry no offset (default: UTC)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        stats = write_events(args.file, sys.stdout, args.timezone)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as error:
        print(f"support-kpi import servicenow: {error}", file=sys.stderr)
        return 1
    print(stats.summary(), file=sys.stderr)
    return 0
