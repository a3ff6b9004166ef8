"""The typed company bus (tests/data/typed_company) works as its docstring says: typed values
cast on both sides."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

COMPANY = ROOT / "tests" / "data" / "typed_company"  # the typed APIs, one bus module

SESSION = textwrap.dedent(
    """
    import datetime, uuid
    from decimal import Decimal
    import lightbus
    from bus import bus, Coverage, OrderLine, Plan

    coverage = bus.warranty.check_serial(serial="SN-1001", purchased=datetime.date(2025, 3, 1))
    print(type(coverage).__name__, coverage.until, coverage.plan is Plan.STANDARD)
    reservation = bus.company.parts.reserve(sku="BOLT-7", quantity=3)
    print(type(reservation["reservation_id"]).__name__, reservation["quantity"])
    print(bus.company.parts.stock(skus={"A", "B"}) == {"A": 10, "B": 10})
    try:
        bus.company.parts.reserve(sku="BOLT-7", quantity=0)
    except lightbus.ValidationError as exc:
        print("refused", exc.field, exc.side)
    sent = bus.sales.order_placed.fire(
        order_id=uuid.uuid4(),
        customer="ACME",
        lines=[OrderLine(sku="BOLT-7", quantity=2, unit_price=Decimal("0.10"))],
        placed_at=datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.UTC),
    )
    print(type(sent.kwargs["lines"][0]).__name__, sent.kwargs["channel"])
    """
)


def test_typed_values_are_cast_on_both_sides(start_worker, worker_env):
    start_worker(COMPANY)
    result = subprocess.run(
        [sys.executable, "-c", SESSION],
        cwd=COMPANY,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Coverage 2027-03-01 True",
        "UUID 3",
        "True",
        "refused quantity caller",
        "OrderLine web",  # fire() returns the values as given, defaults filled in
    ]
