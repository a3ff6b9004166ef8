"""A real worker for bus.py inside the test, on the session's private Redis."""

# --8<-- [start:worker]
import queue

from lightbus import Api


class MailApi(Api):  # the mail service, played by the test
    class Meta:
        name = "mail"

    def __init__(self):
        self.sent = queue.Queue()

    def send(self, to, template, day):
        self.sent.put((to, template))
        return "queued"


def test_a_registration_gets_its_welcome(lightbus_worker, bus):
    lightbus_worker("bus")  # auth: its RPC, its listener
    mail = MailApi()
    bus.client.register_api(mail)
    lightbus_worker(bus)  # mail: served by the test's own bus
    welcomed = queue.Queue()
    bus.auth.welcome_sent.listen(
        lambda event, username, template: welcomed.put(username), listener_name="test"
    )

    import signup  # the app's code fires through its own bus, on the private Redis

    signup.register("ann", "ann@example.com")

    assert mail.sent.get(timeout=10) == ("ann@example.com", "fancy")
    assert welcomed.get(timeout=10) == "ann"


def test_the_password_check_over_the_bus(lightbus_worker, bus):
    lightbus_worker("bus")
    assert bus.auth.check_password(username="ann", password="secret") is True
    assert bus.auth.check_password(username="ann", password="guess") is False


async def test_from_an_async_test(lightbus_worker, bus):
    lightbus_worker("bus")
    assert await bus.auth.check_password.call_async(username="ann", password="secret")


# --8<-- [end:worker]
