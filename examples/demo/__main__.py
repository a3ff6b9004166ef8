"""``python -m examples.demo``: an embedded Redis, two workers, a caller and the live feed.

What runs:

- an embedded Redis (always: the demo never uses a Redis you already run), announced
  with its URL and its state file ``.lightbus/embedded.json``;
- two workers, ``lightbus run --bus examples.demo.sales`` and
  ``lightbus run --bus examples.demo.warranty``;
- this process, the "support" app: it places orders (an RPC to sales, whose handler fires
  ``sales.order_placed``, which warranty listens to) and asks warranty whether a serial
  is covered, once with a malformed serial, so a failure shows too;
- the live trace feed: one line per step of every message.

It stops by itself after ``--seconds`` (default 6), or on Ctrl-C, and leaves nothing
running.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from rich.console import Console

import lightbus
from lightbus import workers as live_workers
from lightbus_tools.devsession import development_redis
from lightbus_tools.feed import TraceFeed

WORKERS = ("examples.demo.sales", "examples.demo.warranty")  # sales first: warranty listens to it
PRODUCTS = ("kettle", "toaster", "blender", "mixer", "grinder", "juicer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to run (default 6)")
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    with development_redis(console, use_embedded=True) as url:
        feed = TraceFeed(url, console).start()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for module in WORKERS:
                workers.append(start_worker(module))
                wait_for_workers(url, len(workers), workers)
            console.print(f"demo: workers up; sending messages for {args.seconds:g}s", style="bold")
            drive(console, time.monotonic() + args.seconds)
        except KeyboardInterrupt:
            console.print("demo: interrupted")
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    worker.kill()
            feed.stop()
        console.print(f"demo: done, {feed.shown} trace records shown", style="bold")
    return 0


def start_worker(module: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "lightbus", "run", "--bus", module, "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,  # the feed shows what the workers do
        start_new_session=True,  # Ctrl-C is the demo's to handle: it stops them once
    )


def wait_for_workers(url: str, count: int, workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 20
    bus = lightbus.create(redis_url=url)
    try:
        while len(bus.run(live_workers.list_workers(bus), "listing the workers")) < count:
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit("demo: a worker did not start (see its error above)")
            time.sleep(0.05)
    finally:
        bus.close()


def drive(console: Console, deadline: float) -> None:
    bus = lightbus.create(service_name="support")
    try:
        round_ = 0
        while time.monotonic() < deadline:
            product = PRODUCTS[round_ % len(PRODUCTS)]
            serial = f"SN-{4000 + round_}"
            order = bus.sales.place_order(product=product, serial=serial)
            time.sleep(0.2)  # let warranty's listener register the sale
            covered = bus.warranty.is_covered(serial=serial)
            console.print(f"support: order {order} ({product}, {serial}); covered: {covered}")
            if round_ == 1:
                try:
                    bus.warranty.is_covered(serial="12-34")
                except lightbus.RemoteError as exc:
                    console.print(
                        f"support: warranty refused '12-34': {exc.remote_type}: "
                        f"{exc.remote_message}",
                        style="red",
                    )
            round_ += 1
            time.sleep(max(0.0, min(0.8, deadline - time.monotonic())))
    finally:
        bus.close()


if __name__ == "__main__":
    sys.exit(main())
