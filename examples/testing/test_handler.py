"""One handler, a made-up event, no Redis: lightbus.testing.run_handler."""

# --8<-- [start:handler]
import datetime

from bus import AuthApi, bus, send_welcome

from lightbus.testing import run_handler

REGISTERED = {"username": "ann", "email": "ann@example.com", "at": "2026-12-01T09:30:00Z"}


def test_the_welcome_is_sent_once(bus_mocker):
    mock = bus_mocker(bus)
    mock.mock_rpc_call("mail.send", result="queued")
    mock.mock_event_firing("auth.welcome_sent")

    result = run_handler(
        send_welcome, "auth.user_registered", REGISTERED, api=AuthApi(), id="evt-1"
    )

    assert result == "fancy"
    mock.assert_rpc_called_once_with(
        "mail.send", to="ann@example.com", template="fancy", day="2026-12-01"
    )
    mock.assert_event_fired_once_with("auth.welcome_sent", username="ann", template="fancy")
    # What the handler sent names the event it handled as its cause.
    assert mock.get_rpc_messages("mail.send")[0].causation_id == "evt-1"


def test_a_third_attempt_sends_the_plain_template(bus_mocker):
    mock = bus_mocker(bus, require_mocking=False)
    run_handler(send_welcome, "auth.user_registered", REGISTERED, api=AuthApi(), attempt=3)
    assert mock.get_rpc_messages("mail.send")[0].kwargs["template"] == "plain"


def test_a_replay_sends_nothing(bus_mocker):
    mock = bus_mocker(bus)  # any fire or call would fail the test
    result = run_handler(
        send_welcome, "auth.user_registered", REGISTERED, api=AuthApi(), replay_of="evt-1"
    )
    assert result == "not sent: a replay"
    assert mock.rpc_names_called == [] and mock.event_names_fired == []


# --8<-- [end:handler]


def test_without_the_api_the_handler_gets_the_arguments_as_given(bus_mocker):
    bus_mocker(bus, require_mocking=False)
    at = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    assert run_handler(send_welcome, "auth.user_registered", {**REGISTERED, "at": at}) == "fancy"
