"""The background-work how-to: delayed events, per-listener concurrency, schedules.

A bus module: `lightbus run --bus background_work` in docs/snippets runs its listeners,
schedules and background task; a script that imports it fires
(tests/test_background_work_docs.py does both).
"""

import asyncio
import datetime as dt

import schedule

import lightbus
from lightbus import Api, Event


class BillingApi(Api):
    invoice_due = Event(parameters=("invoice_id",))
    payment_received = Event(parameters=("account", "amount"))

    class Meta:
        name = "billing"


bus = lightbus.create(service_name="billing")
bus.client.register_api(BillingApi())


def remind_in(seconds):
    # --8<-- [start:delay]
    bus.billing.invoice_due.fire(invoice_id="INV-7", delay=seconds)  # or a timedelta
    # --8<-- [end:delay]


def remind_at(when):
    # --8<-- [start:at]
    # when = datetime.now(timezone.utc) + timedelta(days=1): timezone-aware
    bus.billing.invoice_due.fire(invoice_id="INV-8", at=when)
    # --8<-- [end:at]


async def remind_many_async():
    # --8<-- [start:fire_many]
    invoices = [{"invoice_id": "INV-9"}, {"invoice_id": "INV-10"}]
    await bus.billing.invoice_due.fire_many_async(invoices, delay=dt.timedelta(seconds=1))
    # --8<-- [end:fire_many]


# --8<-- [start:concurrency]
def send_reminder(event, invoice_id):
    print(f"reminder sent for {invoice_id}", flush=True)


async def post_to_ledger(event, account, amount):
    print(f"ledger: {account} {amount}", flush=True)


@bus.client.on_start()
def start_listening(**_):
    # At most 5 reminders at once in this process (the default: listener_concurrency).
    bus.billing.invoice_due.listen(send_reminder, listener_name="reminders", concurrency=5)
    # One at a time, in the order the payments were fired (and run one such process).
    bus.billing.payment_received.listen(post_to_ledger, listener_name="ledger", concurrency=1)
    # --8<-- [end:concurrency]


# --8<-- [start:cron]
@bus.client.schedule("0 6 * * mon-fri", tz="Europe/London")
def morning_report():
    print("morning report", flush=True)


@bus.client.schedule("0 * * * *", catch_up=True)  # runs hours missed while no worker ran
def hourly_rollup():
    print("hourly rollup", flush=True)
    # --8<-- [end:cron]


# --8<-- [start:schedule_library]
@bus.client.schedule(schedule.every().monday.at("01:00"))
def weekly_cleanup():
    print("weekly cleanup", flush=True)
    # --8<-- [end:schedule_library]


# --8<-- [start:every]
@bus.client.every(minutes=5, also_run_immediately=True)
def refresh_exchange_rates():
    print("exchange rates refreshed", flush=True)
    # --8<-- [end:every]


# --8<-- [start:background_task]
async def watch_mailbox():
    print("watching the mailbox", flush=True)
    while True:
        await asyncio.sleep(30)  # poll something that is not on the bus


@bus.client.on_start()
def start_background(**_):
    bus.client.add_background_task(watch_mailbox())
    # --8<-- [end:background_task]
