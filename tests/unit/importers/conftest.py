"""The real ServiceNow sample (read from ../shared/data, never copied) and fixtures over it."""

import csv
from collections import defaultdict

import pytest
from servicenow_log import open_log

from service.importers.servicenow import IncidentTruth, incident_truths


@pytest.fixture(scope="module")
def truths() -> dict[str, IncidentTruth]:
    with open_log() as source:
        return incident_truths(source)


@pytest.fixture(scope="module")
def raw_rows() -> dict[str, list[dict[str, str]]]:
    """The log's rows per incident in file order, read without the importer (to explain
    differences and to compute expectations independently)."""
    grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
    with open_log() as source:
        for row in csv.DictReader(source):
            grouped[row["number"]].append(row)
    return grouped
