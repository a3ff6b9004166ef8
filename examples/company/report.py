"""The nightly report: a job on a schedule.

``lightbus run --bus examples.company.report``. Once a day, at midnight UTC, it asks
sales for the day's figures and parts for the stock, keeps the report (``reports.latest``)
and emails it to the manager. Every worker of the bus keeps the clock, but each tick runs
in one of them only. ``COMPANY_REPORT_EVERY`` (seconds) makes it run more often:
``python -m examples.company`` sets it to 5 so that you see it.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field

import lightbus
from lightbus import Api

log = logging.getLogger("company.report")

EVERY = float(os.environ.get("COMPANY_REPORT_EVERY", 24 * 3600))
WATCHED_PARTS = {"ELEMENT-2K", "FILTER-S", "BLADE-4", "GASKET-9"}
MANAGER = "manager@example.com"


@dataclass
class Report:
    made_at: datetime.datetime
    orders: int
    revenue: str
    low_stock: list[str] = field(default_factory=list)


_latest: list[Report] = []


class ReportsApi(Api):
    class Meta:
        name = "reports"

    def latest(self) -> Report | None:
        return _latest[-1] if _latest else None


bus = lightbus.create(service_name="report")
bus.client.register_api(ReportsApi())


# --8<-- [start:schedule]
@bus.client.every(seconds=EVERY)
async def nightly_report():
    summary = await bus.sales.summary.call_async()
    levels = await bus.company.parts.stock.call_async(skus=sorted(WATCHED_PARTS))
    low = [level["sku"] for level in levels if level["in_stock"] < 5]
    report = Report(
        made_at=datetime.datetime.now(datetime.UTC),
        orders=summary["orders"],
        revenue=summary["revenue"],
        low_stock=low,
    )
    _latest.append(report)
    text = f"{report.orders} order(s), {report.revenue} EUR; low stock: {', '.join(low) or 'none'}"
    await bus.mail.email_queued.fire_async(to=MANAGER, subject="Nightly report", body=text)
    log.info("report: %s", text)
    # --8<-- [end:schedule]
