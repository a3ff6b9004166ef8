"""A listener that may see an event twice, and does its work once
(docs/how-to/idempotent-handlers.md); run by tests/test_docs_snippets.py.

A bus module: ``lightbus run --bus idempotent`` (in docs/snippets) handles
``payments.received`` into the SQLite file named by ``PAYMENTS_DB``.
"""

import os
import sqlite3

import lightbus
from lightbus import Api, Event, Parameter

DATABASE = os.environ.get("PAYMENTS_DB", "payments.db")


class PaymentsApi(Api):
    received = Event(parameters=("order_id", Parameter("amount_cents", int)))

    class Meta:
        name = "payments"


def create_tables():
    with sqlite3.connect(DATABASE) as db:
        db.execute("CREATE TABLE IF NOT EXISTS paid (order_id TEXT PRIMARY KEY, cents INT)")
        db.execute("CREATE TABLE IF NOT EXISTS handled (message_id TEXT PRIMARY KEY)")


# --8<-- [start:handler]
def record_payment(event, order_id, amount_cents):
    db = sqlite3.connect(DATABASE)
    try:
        with db:  # one transaction: the effect, and the note that this event had it
            try:
                db.execute("INSERT INTO handled (message_id) VALUES (?)", (event.id,))
            except sqlite3.IntegrityError:
                return  # handled before, and committed: this is a redelivery
            db.execute(
                "INSERT INTO paid (order_id, cents) VALUES (?, ?) "
                "ON CONFLICT (order_id) DO UPDATE SET cents = cents + excluded.cents",
                (order_id, amount_cents),
            )
            if amount_cents < 0:
                raise ValueError("a refund is not a payment")  # rolls both back: retried whole
    finally:
        db.close()
        # --8<-- [end:handler]


bus = lightbus.create(service_name="payments")
bus.client.register_api(PaymentsApi())


@bus.client.on_start()
def start(**_):
    create_tables()
    bus.payments.received.listen(record_payment, listener_name="record_payment")
