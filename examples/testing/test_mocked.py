"""BusMocker: what the sign-up code fires and calls, with nothing sent (Lightbus 1.x's
forms, then the plugin's fixture)."""

# --8<-- [start:with]
import signup
from bus import bus

from lightbus.testing import BusMocker, bus_mocker


def test_registering_fires_user_registered():
    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("auth.user_registered")

        signup.register("sarahjane", "sj@example.com")

        bus_mock.assert_events_fired("auth.user_registered", times=1)
        message = bus_mock.get_event_messages("auth.user_registered")[0]
        assert message.kwargs["username"] == "sarahjane"


def test_logging_in_asks_auth():
    with BusMocker(bus) as bus_mock:
        bus_mock.mock_rpc_call("auth.check_password", result=False)

        assert signup.log_in("sarahjane", "guess") == "wrong password"

        bus_mock.assert_rpc_called("auth.check_password", times=1)
        message = bus_mock.get_rpc_messages("auth.check_password")[0]
        assert message.kwargs == {"username": "sarahjane", "password": "guess"}


# --8<-- [end:with]


# --8<-- [start:decorator]
@bus_mocker(bus)
def test_with_the_decorator(bus_mock):
    bus_mock.mock_rpc_call("auth.check_password", result=True)
    assert signup.log_in("sarahjane", "secret") == "welcome back, sarahjane"
    bus_mock.assert_event_not_fired("auth.user_registered")


# --8<-- [end:decorator]


# --8<-- [start:fixture]
def test_with_the_fixture(bus_mocker):
    mock = bus_mocker(bus)
    mock.mock_event_firing("auth.user_registered")
    signup.register("ann", "ann@example.com")
    mock.assert_events_fired("auth.user_registered", times=1)
    mock.assert_rpc_not_called("auth.check_password")


# --8<-- [end:fixture]


def test_an_unexpected_call_fails():
    with BusMocker(bus) as bus_mock:
        try:
            signup.log_in("sarahjane", "secret")
        except AssertionError as exc:
            assert "auth.check_password unexpectedly called" in str(exc)
        else:
            raise AssertionError("the unmocked RPC was let through")
        bus_mock.unexpected.clear()  # handled here; otherwise leaving the block fails too


def test_permissive_mocking():
    with BusMocker(bus, require_mocking=False) as bus_mock:
        signup.register("sarahjane", "sj@example.com")
        assert signup.log_in("sarahjane", "secret") == "wrong password"  # unmocked: None
        assert bus_mock.event_names_fired == ["auth.user_registered"]
