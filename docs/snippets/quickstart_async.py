"""The quick start's async twins, run against its worker by tests/test_quickstart.py."""

import asyncio

import lightbus


async def main():
    bus = lightbus.create()
    try:
        # --8<-- [start:async]
        result = await bus.example.hello_world.call_async()
        message = await bus.example.my_event.fire_async()
        # --8<-- [end:async]
        print(result, message.name)
    finally:
        await bus.client.close()


if __name__ == "__main__":
    asyncio.run(main())
