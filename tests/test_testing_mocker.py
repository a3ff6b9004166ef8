"""BusMocker, written as Lightbus 1.x's docs write it (docs/reference/testing-and-mocking.md
of 1.x), and what it promises: nothing reaches Redis, unexpected calls fail.

The bus here points at a port where nothing listens: any command that reached for Redis
would raise BusConnectionError, so a passing test is one where nothing was sent.
"""

from __future__ import annotations

import re
import unittest

import pytest

import lightbus
from lightbus import Api, Event, InvalidArguments
from lightbus.testing import UnexpectedBusCall
from lightbus.utilities.testing import BusMocker, bus_mocker


class AuthApi(Api):
    user_created = Event(parameters=("field",))
    user_registered = Event(parameters=("username", lightbus.Parameter("email", str)))

    class Meta:
        name = "auth"

    def check_password(self, username: str, password: str) -> bool:
        return password == "secret"


bus = lightbus.create(redis_url="redis://127.0.0.1:1/0", service_name="mocked")
bus.client.register_api(AuthApi())


# ---------------------------------------------------------------- 1.x's documented forms


def test_firing_event():
    with BusMocker(bus) as bus_mock:
        # Setup the mocker to expect the auth.user_created was fired.
        # An error will be raised if the tested code fires any other events
        bus_mock.mock_event_firing("auth.user_created")

        # Run the code to be tested
        bus.auth.user_created.fire(field="x")

        # Check the event was fired once
        bus_mock.assert_events_fired("auth.user_created", times=1)

        # Get the fired event message (1.x's page compares with other arguments than it
        # fired, {"username": "sarahjane"}: the ones fired are the ones recorded)
        message = bus_mock.get_event_messages("auth.user_created")[0]
        assert message.kwargs == {"field": "x"}


def test_calling_rpc():
    with BusMocker(bus) as bus_mock:
        # Setup the mocker to expect the auth.user_created was fired.
        # An error will be raised if the tested code calls any other RPCs
        bus_mock.mock_rpc_call("auth.check_password", result=True)

        # Run the code to be tested
        bus.auth.check_password(username="sarahjane", password="secret")

        # Check the event was fired once
        bus_mock.assert_rpc_called("auth.check_password", times=1)

        # Get the fired RPC
        message = bus_mock.get_rpc_messages("auth.check_password")[0]
        assert message.kwargs == {"username": "sarahjane", "password": "secret"}


def test_permissive_mocking():
    with BusMocker(bus, require_mocking=False) as bus_mock:
        # Neither will cause an error despite the lack of mocking setup.
        # This is because we have set require_mocking=False
        bus.auth.user_created.fire(field="x")
        bus.auth.check_password(username="sarahjane", password="secret")
    assert bus_mock.event_names_fired == ["auth.user_created"]
    assert bus_mock.rpc_names_called == ["auth.check_password"]


@bus_mocker(bus)
def test_firing_event_decorated(bus_mock):
    # Setup the mocker to expect the auth.user_created was fired.
    # An error will be raised if the tested code fires any other events
    bus_mock.mock_event_firing("auth.user_created")

    # Run the code to be tested
    bus.auth.user_created.fire(field="x")

    # Check the event was fired once
    bus_mock.assert_events_fired("auth.user_created", times=1)

    # Get the fired event message
    message = bus_mock.get_event_messages("auth.user_created")[0]
    assert message.kwargs == {"field": "x"}


@bus_mocker(bus)
def test_the_decorator_with_pytest_fixtures(tmp_path, bus_mock):
    bus_mock.mock_rpc_call("auth.check_password", result=True)
    assert tmp_path.is_dir() and bus.auth.check_password(username="a", password="b") is True


@bus_mocker(bus)
async def test_the_decorator_on_an_async_test(bus_mock):
    bus_mock.mock_event_firing("auth.user_created")
    await bus.auth.user_created.fire_async(field="x")
    bus_mock.assert_events_fired("auth.user_created", times=1)


class ExampleTestCase(unittest.TestCase):  # 1.x's Django form: a TestCase (not collected)
    __test__ = False

    def test_something(self):
        with BusMocker(bus, require_mocking=False) as bus_mock:
            bus.auth.check_password(username="a", password="b")
        self.assertEqual(bus_mock.rpc_names_called, ["auth.check_password"])

    @bus_mocker(bus)
    def test_decorated(self, bus_mock):
        bus_mock.mock_rpc_call("auth.check_password", result=True)
        self.assertTrue(bus.auth.check_password(username="a", password="b"))


def test_the_testcase_forms_run_under_unittest():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(ExampleTestCase)
    result = unittest.TestResult()
    suite.run(result)
    assert (result.testsRun, result.errors, result.failures) == (2, [], [])


def test_the_camel_case_names_of_1x():
    with BusMocker(bus) as bus_mock:
        bus_mock.mockEventFiring("auth.user_created")
        bus_mock.mockRpcCall("auth.check_password", result=False)
        bus.auth.user_created.fire(field="x")
        assert bus.auth.check_password(username="a", password="b") is False
        bus_mock.assertEventFired("auth.user_created", times=1)
        bus_mock.assertRpcCalled("auth.check_password")
        bus_mock.assertEventNotFired("auth.user_registered")
        bus_mock.assertRpcNotCalled("auth.nothing")
        assert len(bus_mock.getEventMessages()) == len(bus_mock.getRpcMessages()) == 1


# ---------------------------------------------------------------- what it promises


def test_an_unexpected_event_fails_where_it_is_fired_and_again_at_the_end():
    fails = pytest.raises(UnexpectedBusCall, match=r"auth\.user_created unexpectedly fired")
    with fails, BusMocker(bus):
        try:
            bus.auth.user_created.fire(field="x")
        except AssertionError as exc:
            assert "mock_event_firing('auth.user_created')" in str(exc)
        # swallowed by the code under test: leaving the block still fails


def test_an_unexpected_rpc_fails_and_says_how_to_mock_it():
    with BusMocker(bus) as bus_mock:
        with pytest.raises(UnexpectedBusCall) as caught:
            bus.auth.check_password(username="a", password="b")
        bus_mock.unexpected.clear()
    assert "bus_mock.mock_rpc_call('auth.check_password', result=...)" in str(caught.value)


def test_arguments_are_checked_against_a_registered_api():
    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("auth.user_registered")
        bus_mock.mock_rpc_call("auth.check_password", result=True)
        with pytest.raises(InvalidArguments, match="missing required argument"):
            bus.auth.user_registered.fire(username="ann")
        with pytest.raises(InvalidArguments, match="unexpected argument"):
            bus.auth.check_password(username="a", password="b", pasword="c")
    assert bus_mock.event_names_fired == []


def test_names_are_checked_against_a_registered_api():
    with BusMocker(bus, require_mocking=False):
        with pytest.raises(lightbus.UnknownName, match="check_pasword"):
            bus.auth.check_pasword(username="a", password="b")
        with pytest.raises(lightbus.UnknownName, match="is an rpc, not an event: call it"):
            bus.auth.check_password.fire(username="a", password="b")


def test_an_rpc_of_another_app_needs_no_schema_and_can_raise():
    with BusMocker(bus) as bus_mock:
        timeout = lightbus.RpcTimeout(api="billing", name="charge", timeout=1, served=False)
        bus_mock.mock_rpc_call("billing.charge", error=timeout)
        with pytest.raises(lightbus.RpcTimeout):
            bus.billing.charge(amount=3)
    bus_mock.assert_rpc_called("billing.charge", times=1)


def test_fired_once_with_and_never_called():
    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("auth.user_registered")
        bus.auth.user_registered.fire(username="ann", email="ann@example.com")
        bus_mock.assert_event_fired_once_with(
            "auth.user_registered", username="ann", email="ann@example.com"
        )
        with pytest.raises(AssertionError, match=re.escape("expected {'username': 'bob'}")):
            bus_mock.assert_event_fired_once_with("auth.user_registered", username="bob")
        with pytest.raises(AssertionError, match="was fired 1 time"):
            bus_mock.assert_event_not_fired("auth.user_registered")
        with pytest.raises(AssertionError, match=r"never called. RPCs called: none"):
            bus_mock.assert_rpc_called("auth.check_password")
        bus_mock.assert_rpc_not_called("auth.check_password")


def test_fire_many_and_the_async_twins_are_recorded():
    import asyncio

    async def main():
        await bus.auth.user_created.fire_async(field="a")
        await bus.auth.check_password.call_async(username="a", password="b")

    with BusMocker(bus, require_mocking=False) as bus_mock:
        bus.auth.user_created.fire_many([{"field": "b"}, {"field": "c"}])
        asyncio.run(main())
    fired = [m.kwargs["field"] for m in bus_mock.get_event_messages("auth.user_created")]
    assert sorted(fired) == ["a", "b", "c"]
    assert bus_mock.rpc_names_called == ["auth.check_password"]


def test_the_bus_works_as_before_after_the_block():
    with BusMocker(bus, require_mocking=False):
        pass
    assert "fire" not in vars(bus.client) and "call" not in vars(bus.client)


def test_bad_use_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match=r"pass the bus made by lightbus\.create"):
        BusMocker("bus")
    with BusMocker(bus) as bus_mock:
        with pytest.raises(ValueError, match=r"full name 'api\.name', got 'user_created'"):
            bus_mock.mock_event_firing("user_created")
        with pytest.raises(TypeError, match="exception instance"):
            bus_mock.mock_rpc_call("auth.check_password", error="boom")
        with pytest.raises(RuntimeError, match="already mocked"):
            BusMocker(bus).__enter__()
    with pytest.raises(TypeError, match="give it a parameter for it"):

        @bus_mocker(bus)
        def no_parameter():
            pass


def test_the_options_an_event_was_fired_with_are_recorded():
    import asyncio

    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("auth.user_created")
        asyncio.run(bus.client.fire("auth", "user_created", {"field": "x"}, replay_of="abc"))
    assert bus_mock.get_event_options("auth.user_created") == [{"replay_of": "abc"}]
