"""The KPI engine: plain, deterministic Python with no I/O.

The streaming workers, the replay CLI and the HTTP endpoints all call into this package; nothing
here reads a clock, the environment or the network. Event time comes from events, and "now"
is passed in by the caller.
"""
