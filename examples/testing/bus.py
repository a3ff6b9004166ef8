"""The bus module of a small sign-up service, with the tests beside it that use
Lightbus's pytest plugin (docs/how-to/testing.md). ``lightbus run`` in this folder runs it.

- ``auth.check_password`` (RPC) and ``auth.user_registered`` (event) are served here.
- ``send_welcome`` listens to ``auth.user_registered`` and asks the mail service (another
  app, not in this folder) to send the welcome email, then fires ``auth.welcome_sent``.
"""

# --8<-- [start:bus]
import datetime

import lightbus
from lightbus import Api, Event, Parameter


class AuthApi(Api):
    user_registered = Event(
        parameters=("username", Parameter("email", str), Parameter("at", datetime.datetime))
    )
    welcome_sent = Event(parameters=("username", "template"))

    class Meta:
        name = "auth"

    def check_password(self, username: str, password: str) -> bool:
        return password == "secret"


bus = lightbus.create(service_name="signup")
bus.client.register_api(AuthApi())


@bus.client.on_start()
def start_listening(**_):
    bus.auth.user_registered.listen(send_welcome, listener_name="send_welcome")


def send_welcome(event, username, email, at):
    if event.replay_of:
        return "not sent: a replay"  # the user had their welcome the first time
    # A short plain email after two failed attempts (the mail service's fancy
    # template may be what fails).
    template = "plain" if event.attempt > 2 else "fancy"
    bus.mail.send(to=email, template=template, day=at.date().isoformat())
    bus.auth.welcome_sent.fire(username=username, template=template)
    return template


# --8<-- [end:bus]
