"""Lightbus 1.x's testing module: ``from lightbus.utilities.testing import BusMocker``.

The same objects as :mod:`lightbus.testing`, where new code should import them from.
"""

from lightbus.testing.mocker import BusMocker, UnexpectedBusCall, bus_mocker

__all__ = ["BusMocker", "UnexpectedBusCall", "bus_mocker"]
