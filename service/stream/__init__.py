"""The streaming service: Faust workers around the pure engine (stage 1 by conversation,
stage 2 by aggregate owner), with HTTP endpoints for Prometheus, reports and health."""
