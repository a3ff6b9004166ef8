"""``python -m examples.company``: the whole company on an embedded Redis, one process per app.

It starts the embedded Redis of the current folder, one ``lightbus run`` worker per app
(sales, warranty, parts, support, mailer, report), then plays the shop front and the
customers: it places orders (an RPC to sales, which fires ``sales.order_placed``) and
asks support questions. It prints what each app logs, one line per event, each with the
id of the message being handled, which ``lightbus trace`` takes.

It runs until Ctrl-C, or for ``--seconds``, and leaves nothing running (``--keep`` leaves
the embedded Redis, and so the trace, for ``lightbus inspect`` after the run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console

import lightbus
from examples.company.embedded import embedded_redis

APPS = ("sales", "warranty", "parts", "mailer", "support", "report")
ROOT = Path(__file__).resolve().parent.parent.parent  # the folder holding examples/
STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}

# The shop's first orders, in order: the third (order 42) asks for a gasket that parts
# does not have. After these, the shop repeats the regular ones (every one but the third).
ORDERS = [
    ("ann@example.com", "web", [("KETTLE-1", 1, "39.90", True), ("FILTER-S", 2, "4.50", False)]),
    ("bob@example.com", "shop", [("TOASTER-2", 1, "29.00", True)]),
    ("cho@example.com", "phone", [("JUICER-3", 1, "89.00", True), ("GASKET-9", 1, "3.20", False)]),
    ("dee@example.com", "web", [("ELEMENT-2K", 1, "12.00", False)]),
    ("eve@example.com", "shop", [("KETTLE-1", 1, "39.90", True), ("BLADE-4", 1, "6.80", False)]),
]
# After the order of this index, a customer asks support about (serial, part).
QUESTIONS = {
    1: ("ann@example.com", "SN-4000", "FILTER-S"),  # covered, in stock
    3: ("fay@example.com", "SN-0999", "ELEMENT-2K"),  # never sold here: not covered
    4: ("gus@example.com", "12-34", "BLADE-4"),  # not a serial: warranty raises
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.company", description=__doc__)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument(
        "--report-every", type=float, default=5, help="seconds between reports (default 5)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the embedded Redis running")
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    with embedded_redis(Path.cwd(), keep=args.keep) as server:
        console.print(f"company: embedded Redis {server.description}", style="bold")
        apps = [App(name, server.url, args.report_every, console) for name in APPS]
        shop: Shop | None = None
        try:
            for app in apps:
                app.start()
            for app in apps:
                app.wait_ready()
            console.print(
                "company: every app is up; the shop opens"
                + (f" for {args.seconds:g}s" if args.seconds else " (Ctrl-C closes it)"),
                style="bold",
            )
            deadline = time.monotonic() + args.seconds if args.seconds else float("inf")
            shop = Shop(server.url, console)
            shop.run(deadline)
        except KeyboardInterrupt:  # the shop counted what it placed before Ctrl-C
            console.print("company: closing")
        finally:
            stop(apps)
        placed = shop.placed if shop is not None else 0
        console.print(f"company: closed after {placed} order(s)", style="bold")
    return 0


class App:
    """One app's worker process, whose output is printed one line per log record."""

    def __init__(self, name: str, url: str, report_every: float, console: Console) -> None:
        self.name = name
        self.url = url
        self.report_every = report_every
        self.console = console
        self.ready = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            LIGHTBUS_REDIS_URL=self.url,
            LIGHTBUS_PROCESS_NAME=f"{self.name}-1",  # stable names, as in production
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
            COMPANY_REPORT_EVERY=str(self.report_every),
        )
        command = ["lightbus", "run", "--bus", f"examples.company.{self.name}"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command, "--log-format", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C is the launcher's: it stops each app once
        )
        threading.Thread(target=self._read, daemon=True).start()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"company: {self.name} did not start (see its output above)")

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # a graceful stop: in-flight handlers finish

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._show(line.rstrip("\n"))

    def _show(self, line: str) -> None:
        if line.startswith("lightbus: serving"):
            self.say(line.removeprefix("lightbus: ").split("; service")[0])
            self.ready.set()
            return
        try:
            record = json.loads(line)
        except ValueError:
            self.say(line)
            return
        text = record["message"].split("\n", 1)[0]
        if record.get("message_id"):
            text += f"  [message {record['message_id'][-12:]}]"
        self.say(text, STYLES.get(record["level"], ""))

    def say(self, text: str, style: str = "") -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        self.console.print(f"{stamp} {self.name:<9} {text}", style=style, markup=False)


def stop(apps: list[App]) -> None:
    """Stop the apps that call others first, then the rest, each group in parallel."""
    callers = [app for app in apps if app.name in ("report", "support")]
    for group in (callers, [app for app in apps if app not in callers]):
        for app in group:
            app.terminate()
        for app in group:
            app.wait()


class Shop:
    """The shop front and its customers: orders to sales, questions to support."""

    def __init__(self, url: str, console: Console) -> None:
        self.bus = lightbus.create(service_name="shop", redis_url=url)
        self.console = console
        self.serials = itertools.count(4000)
        self.placed = 0  # kept here, not in run(), so that Ctrl-C does not lose it

    def run(self, deadline: float) -> int:
        regular = [order for index, order in enumerate(ORDERS) if index != 2]
        script = itertools.chain(ORDERS, itertools.cycle(regular))
        try:
            for index, (customer, channel, lines) in enumerate(script):
                if time.monotonic() >= deadline:
                    break
                self.order(customer, channel, lines)
                self.placed += 1
                if index in QUESTIONS:
                    self.ask(*QUESTIONS[index])
                pause = 0.6 if index < len(ORDERS) else 2.0
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        finally:
            self.bus.close()
        return self.placed

    def order(self, customer: str, channel: str, lines: list[tuple[str, int, str, bool]]) -> None:
        items = []
        for sku, quantity, price, has_serial in lines:
            item = {"sku": sku, "quantity": quantity, "unit_price": price}
            if has_serial:
                item["serial"] = f"SN-{next(self.serials)}"
            items.append(item)
        order_id = self.bus.sales.place_order(customer=customer, lines=items, channel=channel)
        what = ", ".join(
            f"{i['quantity']} x {i['sku']}" + (f" ({i['serial']})" if "serial" in i else "")
            for i in items
        )
        self.say("shop", f"order {order_id} placed for {customer} ({channel}): {what}")

    def ask(self, customer: str, serial: str, sku: str) -> None:
        self.say("customer", f"{customer} asks support about {serial} and a {sku}")
        try:
            answer = self.bus.support.ask(customer=customer, serial=serial, sku=sku)
        except lightbus.RemoteError as exc:
            first_line = str(exc).split("\n", 1)[0]
            self.say("customer", f"support failed: {first_line}", "bold red")
            return
        self.say("customer", f"support answers: {answer['reply']}")

    def say(self, who: str, text: str, style: str = "cyan") -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        self.console.print(f"{stamp} {who:<9} {text}", style=style, markup=False)


if __name__ == "__main__":
    sys.exit(main())
