"""Webhooks in: ``support-kpi gateway`` verifies each helpdesk's deliveries, maps them to
canonical events (SPEC §2) and publishes them (SPEC §7)."""
