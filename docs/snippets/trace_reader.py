"""Reading the trace stream through the public reader (docs/reference/trace-stream.md);
run by tests/test_trace_docs.py."""

# --8<-- [start:reader]
import datetime

import lightbus


async def recent_failures(bus):
    """The newest 20 failures of the last hour, oldest first."""
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    async for record in lightbus.read_trace(bus, since=since, status="error", limit=20):
        print(record.record, record.api, record.name, record.error_type, record.error)


async def show_tree(bus, message_id):
    """The causal tree of the trace a message belongs to."""
    reader = lightbus.TraceReader(bus)
    first = await reader.find(message_id)  # the message's first record, or None
    if first is None:
        print("not in the trace stream")
        return
    records = await reader.trace(first.trace_id, near_ms=first.stream_ms)
    for root in lightbus.build_tree(records):
        for node in root.walk():
            print(node.label, node.status, [h.listener for h in node.handlings])


async def watch(bus):
    """Every record about shop.* from now on (XREAD BLOCK), until cancelled."""
    async for record in lightbus.read_trace(bus, api="shop", follow=True):
        print(record.record, record.name, record.status)


# --8<-- [end:reader]
