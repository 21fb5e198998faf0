"""The Prometheus configuration in deploy/prometheus: promtool checks and unit tests, plus the
rules' consistency with the metrics the service exports.

promtool comes from Debian's ``prometheus`` package, which ``make test`` installs; without it these
tests fail rather than skip.
"""

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.metrics.names import INFO_METRICS, TARGET_METRICS, metric_specs
from service.stream.health import HEALTH_METRICS
from tools.links import heading_anchors
from tools.runbooks import DEFAULT_BASE, runbook_url

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RECORDING_RULES = PROMETHEUS_DIR / "recording_rules.yml"
ALERT_RULES = PROMETHEUS_DIR / "alert_rules.yml"
RULE_FILES = (RECORDING_RULES, ALERT_RULES)
UNIT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))

RUNBOOKS = ROOT / DEFAULT_BASE / "runbooks.md"
SEVERITIES = {"critical", "warning", "info"}
HISTOGRAM = "support_processing_latency_seconds"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# level:metric:operation
RECORD_NAME = re.compile(r"^[a-z]+:[a-z0-9_]+:[a-z0-9_]+$")
# A name with a colon is a recorded series, never an exported one.
RECORDED_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:[A-Za-z0-9_:]*")
SUPPORT_METRIC = re.compile(r"support_[a-z0-9_]+")
# Any other metric selected with matchers, e.g. up{job="support-kpi"}.
SELECTOR = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\{")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH: run `make test`, which installs it "
                    "(Debian package `prometheus`)", pytrace=False)
    return path


def run_promtool(*args: str | Path) -> str:
    result = subprocess.run([promtool(), *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(path: Path) -> Iterator[dict[str, Any]]:
    for group in load(path)["groups"]:
        yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return list(rules(ALERT_RULES))


def records() -> list[dict[str, Any]]:
    return list(rules(RECORDING_RULES))


def exported_metrics() -> set[str]:
    return ({spec.name for spec in metric_specs()} | {entry[0] for entry in HEALTH_METRICS}
            | {target.name for target in (*TARGET_METRICS, *INFO_METRICS)})


def metrics_in(expr: str) -> set[str]:
    """Exported metric names an expression selects (recorded series removed)."""
    plain = RECORDED_REF.sub(" ", expr)
    names = set(SUPPORT_METRIC.findall(plain)) | set(SELECTOR.findall(plain))
    for name in list(names):
        for suffix in HISTOGRAM_SUFFIXES:
            if name == HISTOGRAM + suffix:
                names.discard(name)
                names.add(HISTOGRAM)
    return names


# --- promtool ------------------------------------------------------------------------------------

def test_promtool_check_config() -> None:
    output = run_promtool("check", "config", CONFIG)
    assert "SUCCESS" in output


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    output = run_promtool("check", "rules", path)
    assert "SUCCESS" in output


def test_promtool_unit_tests() -> None:
    assert UNIT_TESTS, "no promtool unit tests in deploy/prometheus/tests"
    output = run_promtool("test", "rules", *UNIT_TESTS)
    assert "FAILED" not in output


# --- the rules against the service ---------------------------------------------------------------

def test_rule_expressions_use_exported_metrics() -> None:
    allowed = exported_metrics() | {"up"}
    unknown = {
        name: rule.get("alert") or rule.get("record")
        for path in RULE_FILES
        for rule in rules(path)
        for name in metrics_in(rule["expr"])
        if name not in allowed
    }
    assert not unknown, f"metrics not exported by the service: {unknown}"


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.9, sum by (le) (rate(support_processing_latency_seconds_bucket'
            '[5m]))) and job:support_events_rejected:rate5m > 0 and up{job="support-kpi"} == 0'
            ' and support_team_first_response_samples{window="1h"} > 0')
    assert metrics_in(expr) == {HISTOGRAM, "up", "support_team_first_response_samples"}


def test_recorded_series_used_are_defined() -> None:
    defined = {rule["record"] for rule in records()}
    for path in RULE_FILES:
        for rule in rules(path):
            used = set(RECORDED_REF.findall(rule["expr"]))
            assert used <= defined, f"{rule.get('alert') or rule.get('record')}: {used - defined}"


def test_recording_rule_names() -> None:
    names = [rule["record"] for rule in records()]
    assert len(names) == len(set(names))
    for name in names:
        assert RECORD_NAME.match(name), f"{name} is not level:metric:operation"


def test_alert_metadata() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: no `for`"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), f"{name}: summary"
        assert annotations.get("description"), f"{name}: description"
        assert annotations.get("runbook_url") == runbook_url(name), f"{name}: runbook"


def test_runbook_urls_name_a_section_of_the_runbooks_in_the_clone() -> None:
    """Without the external label the link is docs/runbooks.md#<alert>: a file of the clone,
    and an anchor of one of its headings."""
    anchors = heading_anchors(RUNBOOKS.read_text())
    for rule in alerts():
        url = runbook_url(rule["alert"])
        assert "$externalLabels.runbook_base" in url
        default = f"{DEFAULT_BASE}/runbooks.md#{rule['alert'].lower()}"
        assert url.endswith("{{ end }}/runbooks.md#" + rule["alert"].lower()), url
        path, _, anchor = default.partition("#")
        assert (ROOT / path).is_file(), path
        assert anchor in anchors, f"{rule['alert']}: no section in {RUNBOOKS.name}"


def test_expected_alerts_present() -> None:
    expected = {
        "FirstResponseSlaAtRisk", "FirstResponseSlaBreaching", "FirstResponseP90OverTarget",
        "SlaErrorBudgetBurnFast", "SlaErrorBudgetBurnSlow", "AbandonmentSpike",
        "CsatPositiveRatioDrop", "OccupancyTooHigh", "OccupancyTooLow",
        "UnassignedBacklogGrowing", "AwaitingFirstResponseBacklogGrowing", "OldestWaitingTooOld",
        "HandoffFirstResponseOverTarget", "WorkerDown", "WorkerStalled", "KafkaUnreachable",
        "ConsumerLagGrowing",
        "DeadLetters",
    }
    assert {rule["alert"] for rule in alerts()} == expected


# --- the configuration ---------------------------------------------------------------------------

def test_config_loads_both_rule_files_and_scrapes_the_workers() -> None:
    config = load(CONFIG)
    assert sorted(config["rule_files"]) == sorted(path.name for path in RULE_FILES)
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "support-kpi"]
    assert job["scrape_interval"] == "15s"
    targets = [t for static in job["static_configs"] for t in static["targets"]]
    assert targets == ["127.0.0.1:8001", "127.0.0.1:8002"]
    managers = config["alerting"]["alertmanagers"]
    assert [t for m in managers for s in m["static_configs"] for t in s["targets"]] == [
        "127.0.0.1:9093"]
    # WorkerDown watches the job scraped here.
    (worker_down,) = [rule for rule in alerts() if rule["alert"] == "WorkerDown"]
    assert 'job="support-kpi"' in worker_down["expr"]


# --- coverage of the promtool unit tests ---------------------------------------------------------

def unit_test_cases() -> Iterator[dict[str, Any]]:
    for path in UNIT_TESTS:
        yield from load(path)["tests"]


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in unit_test_cases():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts without a firing test"
    assert names - quiet == set(), "alerts without a not-firing test"


def test_every_recording_rule_is_tested() -> None:
    tested = {check["expr"].strip() for case in unit_test_cases()
              for check in case.get("promql_expr_test", [])}
    assert {rule["record"] for rule in records()} - tested == set()


def test_unit_tests_load_the_rule_files() -> None:
    for path in UNIT_TESTS:
        files = {(path.parent / name).resolve() for name in load(path)["rule_files"]}
        assert files <= {p.resolve() for p in RULE_FILES}, path.name
        assert RECORDING_RULES.resolve() in files, f"{path.name}: alerts use recorded series"
