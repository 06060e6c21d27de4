"""The runtime: supervisor (named threads, the first crash re-raised in ``run()``),
dispatcher (handler registry and pool), stats. Knows no protocol."""
