"""Importers: convert helpdesk exports into canonical events (SPEC §2) for backfills."""
