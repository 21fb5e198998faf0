"""Configuration: SPEC section 5 defaults, team overlays, SLA targets and error messages."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pytest

from service.config import (
    CONFIG_ENV_VAR,
    PRIORITIES,
    SLA_KINDS,
    ConfigError,
    KpiConfig,
    WeightedKpi,
    config_from_env,
    load_config,
)
from service.engine.calendar import BusinessCalendar

REPO = Path(__file__).resolve().parents[2]

SPEC_DEFAULTS_YAML = """
at_risk_ratio: 0.8
defaults:                        # for every team not listed under teams
  timezone: UTC
  business_hours:                # weekday -> intervals; a missing day is closed
    mon: ["09:00-17:00"]
    tue: ["09:00-17:00"]
    wed: ["09:00-17:00"]
    thu: ["09:00-17:00"]
    fri: ["09:00-17:00"]
  holidays: []                   # dates (YYYY-MM-DD) in the team's timezone
  sla:                           # targets in seconds
    first_response: {target: 3600, business_hours: false}
    next_response: {target: 14400, business_hours: false}
    resolution: {target: 86400, business_hours: false}
  priorities: {}                 # e.g. urgent: {first_response: {target: 900}}
teams: {}                        # team name -> any of the keys under defaults
retention:
  closed_days: 35                # a closed conversation's ids and status are kept this long
weighted_score:                  # KPI -> weight, target, better
  csat.positive_ratio: {weight: 3, target: 0.9, better: higher}
  first_response_seconds: {weight: 2, target: 3600, better: lower}
  qa.avg: {weight: 2, target: 85, better: higher}
  fcr_ratio: {weight: 1, target: 0.7, better: higher}
  pulled_per_hour: {weight: 1, target: 4, better: higher}
"""

SPEC_TARGETS_MS = {
    "first_response": 3_600_000,
    "next_response": 14_400_000,
    "resolution": 86_400_000,
}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> KpiConfig:
    return load_config(write(tmp_path, text))


def test_defaults_match_spec(tmp_path: Path) -> None:
    config = load_config(None)
    assert config == KpiConfig()
    assert config == load_text(tmp_path, SPEC_DEFAULTS_YAML)
    assert config.at_risk_ratio == 0.8
    assert config.teams == {}
    assert config.defaults.timezone == "UTC"
    assert config.defaults.holidays == []
    assert config.defaults.priorities == {}
    assert config.weighted_score == {
        "csat.positive_ratio": WeightedKpi(weight=3, target=0.9, better="higher"),
        "first_response_seconds": WeightedKpi(weight=2, target=3600, better="lower"),
        "qa.avg": WeightedKpi(weight=2, target=85, better="higher"),
        "fcr_ratio": WeightedKpi(weight=1, target=0.7, better="higher"),
        "pulled_per_hour": WeightedKpi(weight=1, target=4, better="higher"),
    }
    team = config.team(None)
    assert team.calendar == BusinessCalendar("UTC", {d: [(540, 1020)] for d in range(5)})
    for kind in SLA_KINDS:
        for priority in PRIORITIES:
            assert team.sla_target(kind, priority) == (SPEC_TARGETS_MS[kind], False)


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "---\n"])
def test_empty_file_is_defaults(tmp_path: Path, text: str) -> None:
    assert load_text(tmp_path, text) == KpiConfig()


def test_empty_values_mean_empty(tmp_path: Path) -> None:
    config = load_text(tmp_path, "teams:\ndefaults:\n  holidays:\n  priorities:\n")
    assert config == KpiConfig()


def test_partial_defaults_keep_spec_values(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        "defaults:\n  timezone: Europe/Berlin\n  sla:\n    resolution: {business_hours: true}\n",
    )
    team = config.team(None)
    assert team.calendar.timezone == "Europe/Berlin"
    assert team.calendar.hours[0] == ((540, 1020),)
    assert team.sla_target("resolution", "normal") == (86_400_000, True)
    assert team.sla_target("first_response", "normal") == (3_600_000, False)


def test_team_overlay(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        """
defaults:
  timezone: America/New_York
  holidays: [2025-12-25]
  sla:
    next_response: {target: 7200, business_hours: true}
teams:
  vip:
    sla: {first_response: {target: 600}}
  berlin:
    timezone: Europe/Berlin
    business_hours: {mon: ["08:00-12:00", "13:00-16:00"], sat: ["10:00-14:00"]}
    holidays: [2025-12-24, 2025-12-26]
    sla:
      next_response: {target: 3600}
      resolution: {business_hours: true}
""",
    )
    vip = config.team("vip")
    assert vip.name == "vip"
    assert vip.calendar == config.team(None).calendar
    assert vip.calendar.timezone == "America/New_York"
    assert vip.calendar.holidays == frozenset({date(2025, 12, 25)})
    assert vip.sla_target("first_response", "normal") == (600_000, False)
    assert vip.sla_target("next_response", "normal") == (7_200_000, True)
    assert vip.sla_target("resolution", "normal") == (86_400_000, False)

    berlin = config.team("berlin")
    assert berlin.calendar == BusinessCalendar(
        "Europe/Berlin",
        {0: [(480, 720), (780, 960)], 5: [(600, 840)]},
        frozenset({date(2025, 12, 24), date(2025, 12, 26)}),
    )
    assert berlin.sla_target("first_response", "low") == (3_600_000, False)
    # the business_hours flag of the defaults survives a team that only changes the target
    assert berlin.sla_target("next_response", "low") == (3_600_000, True)
    assert berlin.sla_target("resolution", "low") == (86_400_000, True)

    assert config.team("nobody") is config.team(None)
    assert config.team(None).name is None
    assert config.team("vip") is vip


def test_priority_override(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        """
defaults:
  sla:
    resolution: {target: 172800, business_hours: true}
  priorities:
    urgent:
      first_response: {target: 900}
      resolution: {business_hours: false}
    low:
      first_response: {business_hours: true}
teams:
  vip:
    sla: {first_response: {target: 1200}}
  enterprise:
    priorities:
      urgent:
        first_response: {business_hours: true}
      high:
        next_response: {target: 1800.5}
""",
    )
    default = config.team(None)
    assert default.sla_target("first_response", "urgent") == (900_000, False)
    assert default.sla_target("first_response", "normal") == (3_600_000, False)
    assert default.sla_target("first_response", "low") == (3_600_000, True)
    assert default.sla_target("resolution", "urgent") == (172_800_000, False)
    assert default.sla_target("resolution", "high") == (172_800_000, True)

    vip = config.team("vip")
    assert vip.sla_target("first_response", "normal") == (1_200_000, False)
    assert vip.sla_target("first_response", "urgent") == (900_000, False)
    assert vip.sla_target("first_response", "low") == (1_200_000, True)

    enterprise = config.team("enterprise")
    assert enterprise.sla_target("first_response", "urgent") == (900_000, True)
    assert enterprise.sla_target("next_response", "high") == (1_800_500, False)
    assert enterprise.sla_target("next_response", "urgent") == (14_400_000, False)
    assert enterprise.sla_target("resolution", "urgent") == (172_800_000, False)

    with pytest.raises(KeyError):
        default.sla_target("first_reply", "normal")
    with pytest.raises(KeyError):
        default.sla_target("first_response", "critical")


def test_pause_while_overlays_like_the_other_target_fields(tmp_path: Path) -> None:
    """pause_while (SPEC §3, §5) is overlaid field by field: a team or priority that gives it
    replaces the list below, `[]` turns pausing off, and leaving it out keeps it."""
    config = load_text(
        tmp_path,
        """
defaults:
  sla:
    first_response: {target: 3600, pause_while: [pending, snoozed]}
  priorities:
    urgent:
      first_response: {pause_while: []}
teams:
  vip:
    sla: {first_response: {target: 600}}
  billing:
    sla: {first_response: {pause_while: [pending]}}
""",
    )
    both = frozenset({"pending", "snoozed"})
    default = config.team(None)
    assert default.sla_pause_while("first_response", "normal") == both
    assert default.sla_pause_while("first_response", "urgent") == frozenset()
    assert default.sla_pause_while("next_response", "normal") == frozenset()
    vip = config.team("vip")
    assert vip.sla_pause_while("first_response", "normal") == both
    assert vip.sla_target("first_response", "normal") == (600_000, False)
    assert config.team("billing").sla_pause_while("first_response", "low") == frozenset(
        {"pending"})
    with pytest.raises(KeyError):
        default.sla_pause_while("first_reply", "normal")


@pytest.mark.parametrize("status", ["open", "resolved", "waiting"])
def test_pause_while_lists_only_waiting_statuses(tmp_path: Path, status: str) -> None:
    with pytest.raises(ConfigError, match=r"defaults\.sla\.first_response\.pause_while\[0\]: "
                       r"Input should be 'pending' or 'snoozed'"):
        load_text(tmp_path, f"defaults:\n  sla:\n    first_response: {{pause_while: [{status}]}}\n")


def test_weighted_score_replaces_defaults(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        "weighted_score:\n  nps.score: {weight: 1.5, target: 50, better: higher}\n",
    )
    assert config.weighted_score == {
        "nps.score": WeightedKpi(weight=1.5, target=50, better="higher")
    }
    assert load_text(tmp_path, "weighted_score: {}\n").weighted_score == {}


def test_round_trip_and_pickle(tmp_path: Path) -> None:
    config = load_config(REPO / "deploy" / "config.example.yaml")
    config.team("billing")
    again = KpiConfig.model_validate(config.to_dict())
    assert again == config
    assert hash(again) == hash(config)
    assert config != KpiConfig()
    unpickled = pickle.loads(pickle.dumps(config))
    assert unpickled == config
    assert unpickled.team("billing").sla_target("first_response", "urgent") == config.team(
        "billing"
    ).sla_target("first_response", "urgent")


def test_example_config_loads() -> None:
    config = load_config(REPO / "deploy" / "config.example.yaml")
    zones = {config.team(name).calendar.timezone for name in config.teams}
    assert len(config.teams) >= 2
    assert len(zones) >= 2
    assert any(
        len(intervals) > 1
        for name in config.teams
        for intervals in config.team(name).calendar.hours
    )
    assert any(config.team(name).calendar.holidays for name in config.teams)
    urgent_business_overrides = [
        (name, kind)
        for name in config.teams
        for kind in SLA_KINDS
        if config.team(name).sla_target(kind, "urgent")[1]
        and config.team(name).sla_target(kind, "urgent")
        != config.team(name).sla_target(kind, "normal")
    ]
    assert urgent_business_overrides


def test_config_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "at_risk_ratio: 0.5\n")
    assert config_from_env({CONFIG_ENV_VAR: str(path)}).at_risk_ratio == 0.5
    assert config_from_env({}) == KpiConfig()
    assert config_from_env({CONFIG_ENV_VAR: ""}) == KpiConfig()
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    assert config_from_env().at_risk_ratio == 0.5
    monkeypatch.delenv(CONFIG_ENV_VAR)
    assert config_from_env() == KpiConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour: blue\n", "colour: Extra inputs are not permitted"),
        ("defaults:\n  timezon: UTC\n", "defaults.timezon: Extra inputs are not permitted"),
        (
            "teams:\n  billing:\n    sla:\n"
            "      first_response: {target: 60, bussiness_hours: true}\n",
            "teams.billing.sla.first_response.bussiness_hours: Extra inputs are not permitted",
        ),
        (
            "defaults:\n  sla:\n    first_responce: {target: 60}\n",
            "defaults.sla.first_responce: Extra inputs are not permitted",
        ),
        (
            "weighted_score:\n  qa.avg: {weight: 1, target: 80, better: higher, note: x}\n",
            "weighted_score.qa.avg.note: Extra inputs are not permitted",
        ),
        (
            "teams:\n  billing:\n    timezone: Europe/Berln\n",
            "teams.billing.timezone: unknown time zone 'Europe/Berln'",
        ),
        ("defaults:\n  timezone: ''\n", "defaults.timezone: unknown time zone"),
        (
            "teams:\n  b:\n    business_hours:\n      mon: ['9-17']\n",
            "teams.b.business_hours.mon: '9-17' is not in the form 'HH:MM-HH:MM'",
        ),
        (
            "defaults:\n  business_hours:\n      tue: ['17:00-09:00']\n",
            "defaults.business_hours.tue: '17:00-09:00': start must be before end",
        ),
        (
            "defaults:\n  business_hours:\n      wed: ['09:00-13:00', '12:00-17:00']\n",
            "defaults.business_hours.wed: intervals 09:00-13:00 and 12:00-17:00 overlap",
        ),
        (
            "defaults:\n  business_hours:\n      mon: ['09:00-24:01']\n",
            "defaults.business_hours.mon: '09:00-24:01': end must be",
        ),
        (
            "defaults:\n  business_hours:\n      funday: ['09:00-17:00']\n",
            "defaults.business_hours.funday: unknown weekday",
        ),
        (
            "teams:\n  billing:\n    sla:\n      first_response:\n        target: -5\n",
            "config.yaml: teams.billing.sla.first_response.target: Input should be greater than 0",
        ),
        (
            "defaults:\n  sla:\n    resolution: {target: 0}\n",
            "defaults.sla.resolution.target: Input should be greater than 0",
        ),
        (
            "defaults:\n  sla:\n    resolution: {target: true}\n",
            "defaults.sla.resolution.target: expected a number, not a boolean",
        ),
        (
            "defaults:\n  priorities:\n    urgent: {first_response: {target: -1}}\n",
            "defaults.priorities.urgent.first_response.target: Input should be greater than 0",
        ),
        (
            "defaults:\n  priorities:\n    critical: {first_response: {target: 60}}\n",
            "defaults.priorities.critical: Input should be 'low', 'normal', 'high' or 'urgent'",
        ),
        (
            "teams:\n  x:\n    priorities:\n      urgent: {first_reply: {target: 60}}\n",
            "teams.x.priorities.urgent.first_reply: Input should be 'first_response'",
        ),
        ("defaults:\n  holidays: [2025-02-30]\n", "line 2, column 14"),
        ("defaults:\n  holidays: [tomorrow]\n", "defaults.holidays[0]:"),
        ("at_risk_ratio: 0\n", "at_risk_ratio: Input should be greater than 0"),
        ("at_risk_ratio: 1.5\n", "at_risk_ratio: Input should be less than or equal to 1"),
        (
            "weighted_score:\n  csat.bogus: {weight: 1, target: 1, better: higher}\n",
            "weighted_score.csat.bogus: unknown KPI",
        ),
        (
            "weighted_score:\n  qa.avg: {weight: 1, target: 80, better: more}\n",
            "weighted_score.qa.avg.better: Input should be 'higher' or 'lower'",
        ),
        (
            "weighted_score:\n  qa.avg: {weight: 0, target: 80, better: higher}\n",
            "weighted_score.qa.avg.weight: Input should be greater than 0",
        ),
        ("teams:\n  a: {}\n  b: [1,\n", "config.yaml: line 4, column 1: invalid YAML"),
        ("defaults:\n  timezone: UTC\n   holidays: []\n", "config.yaml: line 3"),
        ("teams:\n  a: {}\n  a: {}\n", "line 3, column 3: invalid YAML: duplicate key 'a'"),
        ("- a\n- b\n", "config.yaml: the top level must be a mapping, not list"),
        ("teams: [a, b]\n", "teams: Input should be a valid dictionary"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected.removeprefix("config.yaml: ") in message


def test_error_message_uses_the_path_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "teams:\n  billing:\n    sla:\n      first_response: {target: -1}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml")
    assert str(info.value) == (
        "config.yaml: teams.billing.sla.first_response.target: Input should be greater than 0"
    )


def test_every_problem_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "at_risk_ratio: 2\ndefaults:\n  timezone: Nowhere/Land\n")
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("at_risk_ratio: Input should be less than or equal to 1")
    assert "defaults.timezone: unknown time zone 'Nowhere/Land'" in lines[1]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the file"):
        load_config(tmp_path / "missing.yaml")


def test_retention_defaults_to_35_days(tmp_path: Path) -> None:
    assert KpiConfig().retention.closed_days == 35
    assert KpiConfig().closed_retention_ms == 35 * 86_400_000
    assert load_text(tmp_path, "retention:\n").retention.closed_days == 35
    assert load_config(REPO / "deploy" / "config.example.yaml").retention.closed_days == 35
    config = load_text(tmp_path, "retention: {closed_days: 90}\n")
    assert config.closed_retention_ms == 90 * 86_400_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention: {closed_days: 1}\n", "retention.closed_days: .*greater than or equal to 2"),
        ("retention: {closed_days: 0}\n", "retention.closed_days: "),
        ("retention: {closed_days: 3.5}\n", "retention.closed_days: .*integer"),
        ("retention: {closed_days: true}\n", "retention.closed_days: .*not a boolean"),
        ("retention: {closed: 3}\n", "retention.closed: "),
        ("retention: 35\n", "retention: "),
    ],
)
def test_bad_retention_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(tmp_path, text)
