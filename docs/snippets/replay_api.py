"""Replaying from Python (docs/how-to/replay.md): run with the shop's worker running."""

import asyncio
import sys

# --8<-- [start:api]
import lightbus
from lightbus import deadletters, redrive, replay


async def replay_one(bus: lightbus.Bus, message_id: str) -> str:
    found = await replay.original(bus, message_id)  # whole, from the stream or dead letters
    plan = await replay.plan(bus, found, listener="invoice", reason="bug 12 fixed")
    sent = await replay.send(bus, plan)
    return sent.message_id


async def redrive_all(bus: lightbus.Bus) -> int:
    letters = await deadletters.read(bus)
    plans, left_out = await redrive.letter_plans(bus, letters)  # and why
    print(f"{len(left_out)} left out (already redriven, or refused)")
    progress = await redrive.send_many(bus, plans, rate=50)
    return progress.done
    # --8<-- [end:api]


async def main(message_id: str) -> None:
    bus = lightbus.create()
    try:
        print("replayed as", await replay_one(bus, message_id))
        print("redriven:", await redrive_all(bus))
    finally:
        await bus.client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
