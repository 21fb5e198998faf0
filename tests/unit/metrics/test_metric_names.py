"""SPEC §6 metric names: a distribution's count is ``<stem without _seconds>_samples``, and no
KPI gauge takes a suffix Prometheus reserves for histograms, summaries or counters."""

import pytest

from service.engine.kpis import WINDOW_KPIS
from service.metrics.names import metric_name, metric_specs

RESERVED = ("_count", "_sum", "_bucket", "_total")
"""What ``promtool check metrics`` reserves for histograms, summaries and counters."""


@pytest.mark.parametrize(("level", "path", "name"), [
    ("team", ("first_response_seconds", "count"), "support_team_first_response_samples"),
    ("agent", ("first_response_business_seconds", "count"),
     "support_agent_first_response_business_samples"),
    ("overall", ("wait_seconds", "count"), "support_overall_wait_samples"),
    ("team", ("first_response_seconds",), "support_team_first_response_seconds"),
    ("team", ("sla", "resolution", "achieved_ratio"), "support_team_sla_resolution_achieved_ratio"),
    ("agent", ("csat", "responses"), "support_agent_csat_responses"),
])
def test_metric_name(level: str, path: tuple[str, ...], name: str) -> None:
    assert metric_name(level, path) == name


def test_every_distribution_has_a_samples_gauge_per_level() -> None:
    specs = {(spec.level, spec.path): spec for spec in metric_specs()}
    distributions = [spec for spec in WINDOW_KPIS if spec.kind == "distribution"]
    assert distributions
    for kpi in distributions:
        stem = kpi.key.removesuffix("_seconds")
        for level in ("agent", "team", "overall"):
            count = specs[(level, (kpi.key, "count"))]
            assert count.name == f"support_{level}_{stem}_samples"
            assert not count.stat_label and "stat" not in count.labels
            assert count.windowed and count.labels[-1] == "window"
            stats = specs[(level, (kpi.key,))]
            assert stats.name == f"support_{level}_{kpi.key}" and stats.stat_label


def test_no_reserved_suffix_and_names_unique() -> None:
    names = [spec.name for spec in metric_specs()]
    assert len(names) == len(set(names))
    offending = [name for name in names if name.endswith(RESERVED)]
    assert not offending, offending
