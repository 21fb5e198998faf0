"""``make bench``: the benchmark suite (raw Kafka, engine, service, latency, memory, scale and
recovery), every figure measured in the same run on this machine; see ``python -m bench -h``."""
