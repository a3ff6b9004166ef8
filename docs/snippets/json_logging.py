"""JSON log lines that carry the trace, with the standard library only
(docs/how-to/join-logs-to-traces.md); run by tests/test_trace_docs.py."""

# --8<-- [start:formatter]
import json
import logging

import lightbus


class JsonLines(logging.Formatter):
    def format(self, record):
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "message": record.getMessage(),
                "trace_id": record.trace_id,  # set by TraceLogFilter: "" outside a trace
                "message_id": record.message_id,
            }
        )


handler = logging.StreamHandler()
handler.addFilter(lightbus.TraceLogFilter())
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler])
# --8<-- [end:formatter]

if __name__ == "__main__":
    with lightbus.start_trace("4bf92f3577b34da6a3ce929d0e0e4736"):
        logging.getLogger("myapp").info("placing order o-1")
