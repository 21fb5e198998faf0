"""``support-kpi report``: every worker's /kpis, merged."""

import json
import urllib.parse
import urllib.request
from typing import Any

from service.engine.owners import merge_reports

__all__ = ["fetch_reports"]


def fetch_reports(urls: list[str], as_of: str | None, token: str | None,
                  timeout_s: float = 10.0) -> dict[str, Any]:
    reports = []
    for url in urls:
        target = url.rstrip("/") + "/kpis"
        if as_of:
            target += "?" + urllib.parse.urlencode({"as_of": as_of})
        request = urllib.request.Request(target)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            reports.append(json.loads(response.read()))
    return merge_reports(reports)
