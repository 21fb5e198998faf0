"""Prometheus export: KPI gauges from the report (one name per report leaf) and worker health."""
