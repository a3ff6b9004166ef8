"""Trace ids in your own log lines (docs/how-to/join-logs-to-traces.md); run by
tests/test_trace_docs.py."""

# --8<-- [start:setup]
import logging

import lightbus

handler = logging.StreamHandler()
handler.addFilter(lightbus.TraceLogFilter())
handler.setFormatter(
    logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s%(trace_tag)s")
)
logging.basicConfig(level=logging.INFO, handlers=[handler])
# --8<-- [end:setup]

if __name__ == "__main__":
    log = logging.getLogger("myapp")
    log.info("outside")
    with lightbus.start_trace("4bf92f3577b34da6a3ce929d0e0e4736"):
        log.info("inside")
