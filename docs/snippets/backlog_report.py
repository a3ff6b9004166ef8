"""A team's own health check, on the public modules (docs/reference/python-api.md);
run by tests/test_backlog.py."""

# --8<-- [start:report]
import asyncio
import sys

import lightbus
from lightbus import deadletters, groups, messages, workers


async def report(bus):
    """Which listeners are behind, who is running, and what was given up on."""
    for row in await groups.backlog(bus):
        if row.lag or row.pending or row.dead_letters:
            print(
                f"{row.api}.{row.name} {row.group}: lag {row.lag}, pending {row.pending}, "
                f"highest attempt {row.highest_attempt}, dead letters {row.dead_letters}"
            )
    for worker in await workers.list_workers(bus):
        print(f"worker {worker.process} serves {', '.join(worker.apis) or 'no APIs'}")
    for letter in await deadletters.read(bus, limit=5, newest_first=True):
        original = await messages.original(bus, letter.message_id, letter.api, letter.name)
        print(f"dead: {letter.message_id} {original.message.kwargs} ({letter.error})")


async def main():
    bus = lightbus.create()  # the bus of LIGHTBUS_REDIS_URL (or the config file)
    try:
        await report(bus)
    finally:
        await bus.client.close()


# --8<-- [end:report]

if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
