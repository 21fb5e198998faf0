"""``support-kpi board``: the wallboard and the agents' feedback pages, merged from every
worker (SPEC §6, "Pages")."""
