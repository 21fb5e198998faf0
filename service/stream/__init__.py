"""The streaming service: Faust workers around the pure engine (a conversation stage keyed
like the input, an owner stage keyed by agent, team and overall), with HTTP endpoints for
Prometheus, reports and health."""
