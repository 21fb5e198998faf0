"""Developer tools run from the repository root, outside the runtime package ``service``: the
generators of the docs' tables (``python -m tools.docs``) and of the Grafana dashboard
(``python -m tools.dashboard``), and the Markdown link checker the contract tests use."""
