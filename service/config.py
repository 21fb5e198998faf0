"""The YAML configuration (SPEC section 5): business hours, SLA targets, weighted score.

Overlay rules, where the SPEC leaves room for a choice:

- A team under `teams:` may give any subset of the keys under `defaults`. Mappings are merged
  key by key (`sla`, each SLA kind inside it, `priorities`, each kind inside a priority), so
  `teams: {vip: {sla: {first_response: {target: 600}}}}` keeps every other target, and the
  `business_hours` flag, from `defaults`. `timezone`, `holidays` and `business_hours` are
  replaced as a whole: a team's `business_hours` is its complete week (a missing day is closed)
  and its `holidays` its complete list.
- An SLA target for a (kind, priority) is the team's `sla.<kind>` overlaid by the team's
  `priorities.<priority>.<kind>`; either of `target` and `business_hours` may be given alone.
  Because `priorities` is merged, a priority override under `defaults` also applies to every
  team that does not override it.
- An SLA target's `pause_while` (SPEC §3) lists the waiting statuses (`pending`, `snoozed`)
  whose seconds the SLA does not count; it is overlaid like `target` and `business_hours`
  (given, it replaces the list below it; `[]` turns pausing off).
- An SLA's `objective` (default 0.9) is the share of judged conversations that should meet it,
  the SLO the burn-rate alerts compare the achieved ratio with. It is set per team and kind
  (`sla.<kind>.objective`), not per priority: the achieved ratio is not split by priority.
- `weighted_score`, when given, replaces the default mapping entirely (so a KPI can be left out
  of the score); `weighted_score: {}` disables the score.
- A key present with an empty value (`teams:`, `holidays:`, `priorities:`) means empty.
- `retention.closed_days` (SPEC §2, §5) is a whole number of days, at least 2 so that the
  horizon lies beyond the 25 hours of pane data (SPEC §4).
- Names (SPEC §5 is silent; docs/configuration.md): `teams.<team>.name` and
  `agents.<agent>.name` are how people call a team or agent (the board, the CLI, the
  `support_team_info` and `support_agent_info` gauges); the key stays its id.
  `teams.<team>.sources` lists the helpdesk groups, inboxes and mailboxes whose conversations
  count for the team, as the gateway names them (`zendesk:22129848:360001`), or a whole
  helpdesk account (`intercom:lkqcyt9t`) for its conversations that name no team; the gateway
  writes the team's key instead. A source may belong to one team only.
- `metrics.agent_kpis` (SPEC §6) lists the report keys exported per agent on `/metrics`
  (`DEFAULT_AGENT_KPIS` when left out, `all` for every key, `[]` or an empty value for none);
  teams and overall always export everything, and `/kpis` is not affected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.engine.calendar import WEEKDAY_NAMES, BusinessCalendar, HoursError, parse_hours
from service.engine.kpis import LIVE_KPIS, WEIGHTABLE_PATHS, WINDOW_KPIS
from service.names import Directory

__all__ = [
    "AGENT_KPIS",
    "CONFIG_ENV_VAR",
    "DEFAULT_AGENT_KPIS",
    "DEFAULT_CLOSED_DAYS",
    "DEFAULT_OBJECTIVE",
    "PRIORITIES",
    "SLA_KINDS",
    "WEIGHTABLE_KPIS",
    "ConfigError",
    "KpiConfig",
    "MetricsSettings",
    "Priority",
    "ResolvedTeam",
    "Retention",
    "SlaKind",
    "SlaTarget",
    "SlaTargetOverride",
    "SlaTargets",
    "SlaTargetsOverlay",
    "TeamOverlay",
    "TeamSettings",
    "TeamSlaOverride",
    "WeightedKpi",
    "config_from_env",
    "load_config",
]

CONFIG_ENV_VAR = "SUPPORT_KPI_CONFIG"

SlaKind = Literal["first_response", "next_response", "resolution"]
Priority = Literal["low", "normal", "high", "urgent"]
SLA_KINDS: tuple[SlaKind, ...] = get_args(SlaKind)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
PausableStatus = Literal["pending", "snoozed"]
"""The statuses an SLA target may pause in: the waiting statuses, when no response clock
should be held against the team (a clock never runs while resolved or closed)."""

WEIGHTABLE_KPIS: frozenset[str] = WEIGHTABLE_PATHS
"""KPI paths a weighted score may use, from the KPI registry (a distribution counts its avg)."""

_DEFAULT_TARGETS: dict[str, float] = {
    "first_response": 3600,
    "next_response": 14400,
    "resolution": 86400,
}
DEFAULT_OBJECTIVE = 0.9
"""The share of a team's judged conversations that should meet an SLA (the error budget is the
rest): what the burn-rate alerts measure the achieved ratio against."""
_DEFAULT_HOURS: dict[str, list[str]] = {
    day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")
}


def _reject_bool(value: object) -> object:
    # pydantic's lax mode would read `true` as 1.0
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


def _date_only(value: object) -> object:
    # pydantic's lax mode would read an integer as a Unix timestamp
    if not isinstance(value, str | date):
        raise ValueError("expected a date in the form YYYY-MM-DD")
    return value


def _check_timezone(name: str) -> str:
    try:
        BusinessCalendar(name, {})
    except ValueError as exc:
        raise ValueError(f"{exc} (expected an IANA name such as 'Europe/Berlin')") from None
    return name


def _check_hours(spec: dict[str, list[str]]) -> dict[str, list[str]]:
    try:
        parsed = parse_hours(spec)
    except HoursError as exc:
        raise PydanticCustomError(
            "business_hours", "{reason}", {"reason": exc.reason, "day": exc.day}
        ) from None
    return {
        WEEKDAY_NAMES[wd]: [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in iv]
        for wd, iv in sorted(parsed.items())
    }


def _check_kpi(name: str) -> str:
    if name not in WEIGHTABLE_KPIS:
        raise ValueError(f"unknown KPI, expected one of {', '.join(sorted(WEIGHTABLE_KPIS))}")
    return name


PositiveNumber = Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, allow_inf_nan=False)]
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
BusinessHoursSpec = Annotated[dict[str, list[str]], AfterValidator(_check_hours)]
HolidayDate = Annotated[date, BeforeValidator(_date_only)]
KpiPath = Annotated[str, AfterValidator(_check_kpi)]


def _none_as_empty(data: Any, empty: Mapping[str, Any]) -> Any:
    if isinstance(data, dict):
        fixes = {k: v for k, v in empty.items() if k in data and data[k] is None}
        if fixes:
            return {**data, **fixes}
    return data


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Objective = Annotated[float, Field(gt=0, lt=1)]


class SlaTarget(_Model):
    """A target in seconds; `business_hours` measures it in the team's business seconds;
    `pause_while` leaves out the seconds spent in those statuses (SPEC §3); `objective` is the
    share of judged conversations that should meet it (the SLO of the burn-rate alerts)."""

    target: PositiveNumber
    business_hours: bool = False
    pause_while: tuple[PausableStatus, ...] = ()
    objective: Objective = DEFAULT_OBJECTIVE


class SlaTargetOverride(_Model):
    """A partial `SlaTarget` under `priorities`: a field left out keeps the value it overlays.
    The objective is the team's for all priorities (the achieved ratio is not split by
    priority), so it is not set here."""

    target: PositiveNumber | None = None
    business_hours: bool | None = None
    pause_while: tuple[PausableStatus, ...] | None = None

    def _given(self) -> dict[str, Any]:
        return {name: value for name in type(self).model_fields
                if (value := getattr(self, name)) is not None}

    def over(self, base: SlaTarget) -> SlaTarget:
        """`base` with this override's given fields applied."""
        return base.model_copy(update=self._given())

    def merged(self, top: SlaTargetOverride) -> SlaTargetOverride:
        """This override with `top`'s given fields applied."""
        return self.model_copy(update=top._given())


class SlaTargets(_Model):
    """The three SLA targets. A kind given without `target` keeps the SPEC default target."""

    first_response: SlaTarget = SlaTarget(target=_DEFAULT_TARGETS["first_response"])
    next_response: SlaTarget = SlaTarget(target=_DEFAULT_TARGETS["next_response"])
    resolution: SlaTarget = SlaTarget(target=_DEFAULT_TARGETS["resolution"])

    @model_validator(mode="before")
    @classmethod
    def _default_targets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for kind, default in _DEFAULT_TARGETS.items():
            value = filled.get(kind)
            if isinstance(value, dict) and "target" not in value:
                filled[kind] = {**value, "target": default}
        return filled


class TeamSlaOverride(SlaTargetOverride):
    """A partial `SlaTarget` in a team's `sla` section, objective included."""

    objective: Objective | None = None


class SlaTargetsOverlay(_Model):
    """A team's partial `sla` section."""

    first_response: TeamSlaOverride | None = None
    next_response: TeamSlaOverride | None = None
    resolution: TeamSlaOverride | None = None

    def over(self, base: SlaTargets) -> SlaTargets:
        """`base` with this overlay's given kinds and fields applied."""
        updates: dict[str, SlaTarget] = {}
        for kind in SLA_KINDS:
            override: TeamSlaOverride | None = getattr(self, kind)
            if override is not None:
                updates[kind] = override.over(getattr(base, kind))
        return base.model_copy(update=updates) if updates else base


PriorityOverrides = dict[Priority, dict[SlaKind, SlaTargetOverride]]


def _merge_priorities(base: PriorityOverrides, top: PriorityOverrides) -> PriorityOverrides:
    merged: PriorityOverrides = {p: dict(kinds) for p, kinds in base.items()}
    for priority, kinds in top.items():
        target = merged.setdefault(priority, {})
        for kind, override in kinds.items():
            below = target.get(kind)
            target[kind] = override if below is None else below.merged(override)
    return merged


class TeamSettings(_Model):
    """A team's complete settings (the `defaults` section, or a team overlaid on it)."""

    timezone: TimezoneName = "UTC"
    business_hours: BusinessHoursSpec = Field(
        default_factory=lambda: {k: list(v) for k, v in _DEFAULT_HOURS.items()}
    )
    holidays: list[HolidayDate] = Field(default_factory=list)
    sla: SlaTargets = SlaTargets()
    priorities: PriorityOverrides = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _empty_values(cls, data: Any) -> Any:
        return _none_as_empty(data, {"holidays": [], "priorities": {}})

    def calendar(self) -> BusinessCalendar:
        """The business calendar these settings describe."""
        return BusinessCalendar(
            self.timezone, parse_hours(self.business_hours), frozenset(self.holidays)
        )


def _display_name(value: str) -> str:
    text = " ".join(value.split())
    if not text or len(text) > 100:
        raise PydanticCustomError("display_name", "a name of 1 to 100 characters")
    return text


DisplayName = Annotated[str, AfterValidator(_display_name)]
SourceKey = Annotated[str, Field(pattern=r"^[a-z]+:[^:\s]+(:\S+)?$")]
"""A helpdesk group, inbox or mailbox as the gateway names it (``vendor:tenant:id``), or a
whole helpdesk account (``vendor:tenant``)."""


class TeamOverlay(_Model):
    """One entry under `teams:`: any subset of the keys of `TeamSettings`, the team's display
    `name` and the helpdesk `sources` that count for it."""

    name: DisplayName | None = None
    sources: list[SourceKey] | None = None
    timezone: TimezoneName | None = None
    business_hours: BusinessHoursSpec | None = None
    holidays: list[HolidayDate] | None = None
    sla: SlaTargetsOverlay | None = None
    priorities: PriorityOverrides | None = None

    def over(self, base: TeamSettings) -> TeamSettings:
        """`base` overlaid by this team's settings (see the module docstring for the rules)."""
        updates: dict[str, Any] = {}
        if self.timezone is not None:
            updates["timezone"] = self.timezone
        if self.business_hours is not None:
            updates["business_hours"] = self.business_hours
        if self.holidays is not None:
            updates["holidays"] = self.holidays
        if self.sla is not None:
            updates["sla"] = self.sla.over(base.sla)
        if self.priorities is not None:
            updates["priorities"] = _merge_priorities(base.priorities, self.priorities)
        return base.model_copy(update=updates) if updates else base


class WeightedKpi(_Model):
    """One term of the agent `weighted_score`."""

    weight: PositiveNumber
    target: PositiveNumber
    better: Literal["higher", "lower"]


def _default_weighted_score() -> dict[str, WeightedKpi]:
    return {
        "csat.positive_ratio": WeightedKpi(weight=3, target=0.9, better="higher"),
        "first_response_seconds": WeightedKpi(weight=2, target=3600, better="lower"),
        "qa.avg": WeightedKpi(weight=2, target=85, better="higher"),
        "fcr_ratio": WeightedKpi(weight=1, target=0.7, better="higher"),
        "pulled_per_hour": WeightedKpi(weight=1, target=4, better="higher"),
    }


@dataclass(frozen=True, eq=False, slots=True)
class ResolvedTeam:
    """A team's effective settings, calendar and SLA targets, ready for the hot path."""

    name: str | None
    settings: TeamSettings
    calendar: BusinessCalendar
    targets: Mapping[tuple[str, str], tuple[int, bool]]
    pauses: Mapping[tuple[str, str], frozenset[str]]
    objectives: Mapping[str, float]
    """SLA kind → objective (a ratio in (0, 1))."""

    @classmethod
    def build(cls, name: str | None, settings: TeamSettings) -> ResolvedTeam:
        """Resolve `settings`, precomputing every (kind, priority) target."""
        targets: dict[tuple[str, str], tuple[int, bool]] = {}
        pauses: dict[tuple[str, str], frozenset[str]] = {}
        for kind in SLA_KINDS:
            base: SlaTarget = getattr(settings.sla, kind)
            for priority in PRIORITIES:
                override = settings.priorities.get(priority, {}).get(kind)
                effective = base if override is None else override.over(base)
                target_ms = max(1, round(effective.target * 1000))
                targets[(kind, priority)] = (target_ms, effective.business_hours)
                pauses[(kind, priority)] = frozenset(effective.pause_while)
        objectives: dict[str, float] = {
            kind: getattr(settings.sla, kind).objective for kind in SLA_KINDS}
        return cls(name, settings, settings.calendar(), targets, pauses, objectives)

    def sla_pause_while(self, kind: str, priority: str) -> frozenset[str]:
        """The statuses whose time the SLA of this kind and priority leaves out (empty: none).

        Raises KeyError like :meth:`sla_target`.
        """
        try:
            return self.pauses[(kind, priority)]
        except KeyError:
            raise KeyError(f"unknown SLA kind or priority: {kind!r}, {priority!r}") from None

    def sla_target(self, kind: str, priority: str) -> tuple[int, bool]:
        """(target in milliseconds, measured in business hours?) for an SLA kind and priority.

        Raises KeyError for a kind outside SLA_KINDS or a priority outside PRIORITIES.
        """
        try:
            return self.targets[(kind, priority)]
        except KeyError:
            raise KeyError(f"unknown SLA kind or priority: {kind!r}, {priority!r}") from None


AGENT_KPIS: tuple[str, ...] = tuple(
    spec.key for spec in (*WINDOW_KPIS, *LIVE_KPIS) if "agents" in spec.levels)
"""Report keys of an agent entry, in report order: what `metrics.agent_kpis` may list."""

DEFAULT_AGENT_KPIS: tuple[str, ...] = (
    # workload and throughput
    "conversations_created", "conversations_resolved", "assigned", "pulled_per_hour",
    # responsiveness: the SLA-bearing first response and the SLA results
    "first_response_seconds", "sla",
    # utilisation (the occupancy alerts read both)
    "logged_in_seconds", "occupancy_ratio",
    # quality and the configured score
    "csat", "qa", "weighted_score",
    # live: the agent's queue, presence and what breaches right now
    "assigned_open", "status", "open", "sla_breaching",
)
"""The per-agent KPIs exported by default: what a team lead watches per agent and what the
shipped dashboard and alert rules read per agent. Left out (opt in by listing them): the
business-hours variants and the next-response, resolution, time-to-close and wait distributions
(8 series each per agent; the team level carries them), survey groups rarely about one agent
(nps, ces), and the queue counts that are team concerns."""


def _check_agent_kpi(key: str) -> str:
    if key not in AGENT_KPIS:
        raise ValueError(f"unknown per-agent KPI {key!r}, expected `all` or a list of "
                         f"{', '.join(AGENT_KPIS)}")
    return key


def _agent_kpi_list(value: object) -> object:
    if value is None:
        return ()
    if value == "all":
        return AGENT_KPIS
    if isinstance(value, str):
        raise ValueError(f"expected `all` or a list of report keys, not {value!r}")
    return value


def _no_repeats(keys: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"listed more than once: {', '.join(repeated)}")
    return keys


AgentKpi = Annotated[str, AfterValidator(_check_agent_kpi)]
AgentKpis = Annotated[tuple[AgentKpi, ...], BeforeValidator(_agent_kpi_list),
                      AfterValidator(_no_repeats)]


class MetricsSettings(_Model):
    """The `metrics` section (SPEC §6): which report keys `/metrics` exports per agent."""

    agent_kpis: AgentKpis = DEFAULT_AGENT_KPIS


DEFAULT_CLOSED_DAYS = 35
"""SPEC §5: how long a closed conversation's ids and status are kept after its last event."""
_DAY_MS = 86_400_000


class Retention(_Model):
    """The `retention` section (SPEC §2): a closed or resolved conversation's event ids and
    status are kept `closed_days` after its last event; see ``Conversations`` for what
    happens past that horizon."""

    closed_days: Annotated[int, BeforeValidator(_reject_bool), Field(ge=2)] = (
        DEFAULT_CLOSED_DAYS)

    @property
    def closed_ms(self) -> int:
        """`closed_days` in milliseconds."""
        return self.closed_days * _DAY_MS


DEFAULT_HISTORY_DAYS = 400
"""SPEC §8: how many days of facts the history database keeps."""


class HistorySettings(_Model):
    """The `history` section (SPEC §8): the history database keeps the facts of the last
    `days` days before its as-of."""

    days: Annotated[int, BeforeValidator(_reject_bool), Field(ge=1)] = DEFAULT_HISTORY_DAYS

    @property
    def retention_ms(self) -> int:
        """`days` in milliseconds."""
        return self.days * _DAY_MS


class AgentEntry(_Model):
    """One entry under `agents:`: how people call the agent."""

    name: DisplayName


class KpiConfig(_Model):
    """The whole configuration file. Equality and hashing are by content."""

    at_risk_ratio: float = Field(default=0.8, gt=0, le=1, allow_inf_nan=False)
    defaults: TeamSettings = TeamSettings()
    teams: dict[str, TeamOverlay] = Field(default_factory=dict)
    agents: dict[str, AgentEntry] = Field(default_factory=dict)
    weighted_score: dict[KpiPath, WeightedKpi] = Field(default_factory=_default_weighted_score)
    retention: Retention = Retention()
    history: HistorySettings = HistorySettings()
    metrics: MetricsSettings = MetricsSettings()

    _resolved: dict[str | None, ResolvedTeam] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _empty_values(cls, data: Any) -> Any:
        return _none_as_empty(data, {"teams": {}, "agents": {}, "retention": {},
                                     "history": {}, "metrics": {}})

    @model_validator(mode="after")
    def _one_team_per_source(self) -> KpiConfig:
        owner: dict[str, str] = {}
        for team, overlay in self.teams.items():
            for source in overlay.sources or ():
                other = owner.setdefault(source, team)
                if other != team:
                    raise PydanticCustomError(
                        "source_twice", "teams: '{source}' is a source of both '{a}' and '{b}'; "
                        "a source belongs to one team", {"source": source, "a": other, "b": team})
        return self

    def directory(self) -> Directory:
        """The display names and team sources of this configuration."""
        return Directory(
            teams={team: o.name for team, o in self.teams.items() if o.name is not None},
            agents={agent: entry.name for agent, entry in self.agents.items()},
            sources={source: team for team, o in self.teams.items()
                     for source in o.sources or ()})

    @property
    def closed_retention_ms(self) -> int:
        """`retention.closed_days` in milliseconds (what the conversation stage reads)."""
        return self.retention.closed_ms

    def team(self, name: str | None) -> ResolvedTeam:
        """The effective settings of a team; None and teams not under `teams:` get `defaults`."""
        resolved = self._resolved.get(name)
        if resolved is not None:
            return resolved
        overlay = self.teams.get(name) if name is not None else None
        if overlay is None:
            resolved = self._resolved.get(None)
            if resolved is None:
                resolved = self._resolved[None] = ResolvedTeam.build(None, self.defaults)
            return resolved
        resolved = self._resolved[name] = ResolvedTeam.build(name, overlay.over(self.defaults))
        return resolved

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict; `KpiConfig.model_validate` turns it back into an equal config."""
        return self.model_dump(mode="json", exclude_none=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KpiConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


class ConfigError(Exception):
    """The configuration file is unreadable or invalid; the message names the file and key."""


def _format_loc(error: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for item in error["loc"]:
        if item == "[key]":
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    if error["type"] == "business_hours":
        parts.append(("." if parts else "") + str(error["ctx"]["day"]))
    return "".join(parts)


def _format_msg(error: Mapping[str, Any]) -> str:
    msg = str(error["msg"])
    prefix = "Value error, "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping (the later one would win silently)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


def _construct_checked_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {node.value!r}: {exc}", node.start_mark
        ) from None


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_checked_timestamp)


def load_config(path: str | Path | None) -> KpiConfig:
    """Load and validate the YAML file at `path`; None or an empty file give the defaults.

    Raises ConfigError with one line per problem, e.g.
    ``config.yaml: teams.billing.sla.first_response.target: Input should be greater than 0``.
    """
    if path is None:
        return KpiConfig()
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{label}: cannot read the file: {reason}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"{label}: {where}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None
    if data is None:
        return KpiConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: the top level must be a mapping, not {type(data).__name__}")
    try:
        return KpiConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = _format_loc(error)
            msg = _format_msg(error)
            lines.append(f"{label}: {loc}: {msg}" if loc else f"{label}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def config_from_env(environ: Mapping[str, str] | None = None) -> KpiConfig:
    """Load the file named by SUPPORT_KPI_CONFIG; unset or empty means the defaults."""
    env = os.environ if environ is None else environ
    path = env.get(CONFIG_ENV_VAR, "").strip()
    return load_config(path or None)
