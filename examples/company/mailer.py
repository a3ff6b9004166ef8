"""The mailer: a background email queue.

``lightbus run --bus examples.company.mailer``. Any app queues an email by firing
``mail.email_queued``; the ``send_email`` listener hands it to the mail relay. The mailer
itself queues an order confirmation for every ``sales.order_placed``. The relay
here is pretend, and flaky in a reproducible way: it drops the first attempt of about one
email in three (which ones depends only on the address and the subject), so the trace
shows a failure followed by the retry that delivered it.
"""

from __future__ import annotations

import logging
import zlib

import lightbus
from lightbus import Api, Event, Parameter

log = logging.getLogger("company.mailer")

sent: list[tuple[str, str]] = []


class RelayUnavailable(ConnectionError):
    """The mail relay did not take the email; a later attempt will."""


class MailApi(Api):
    email_queued = Event(
        parameters=(Parameter("to", str), Parameter("subject", str), Parameter("body", str))
    )

    class Meta:
        name = "mail"


def relay_drops(to: str, subject: str) -> bool:
    """Whether the pretend relay drops the first attempt of this email."""
    return zlib.crc32(f"{to}|{subject}".encode()) % 3 == 2


# --8<-- [start:listener]
def send_email(event, to, subject, body):
    if event.attempt == 1 and relay_drops(to, subject):
        raise RelayUnavailable(f"the mail relay did not answer (email to {to}: {subject!r})")
    sent.append((to, subject))
    log.info("sent %r to %s (attempt %d)", subject, to, event.attempt)


bus = lightbus.create(service_name="mailer")
bus.client.register_api(MailApi())
bus.mail.email_queued.listen(send_email, listener_name="send_email")
# --8<-- [end:listener]


def confirm_order(event, order_id, customer, lines, **_):
    bus.mail.email_queued.fire(
        to=customer,
        subject=f"Your order {order_id}",
        body=f"Thank you! We have your order of {len(lines)} line(s).",
    )


@bus.client.on_start()
def start_listening(**_):
    bus.sales.order_placed.listen(confirm_order, listener_name="confirm_order")
