"""A model's monitoring page in real headless Chromium: twelve monthly monitoring runs as
error and drift charts with the version changes marked, and one batch's drift report."""

from __future__ import annotations

from typing import Any

from playwright import sync_api
from test_ui_browser import SCREENSHOTS, Server, browser, page  # noqa: F401 - fixtures

from tests.monitoring_helpers import monitored  # noqa: F401 - fixture


def test_model_page_shows_error_and_drift_over_time(monitored: dict[str, Any],  # noqa: F811
                                                    page: Any) -> None:  # noqa: F811
    with Server(monitored["repo"]) as server:
        page.goto(server.url + "/#/models")
        page.locator("section.model[data-model='forecaster'] a[data-link='monitoring']").click()
        sync_api.expect(page.locator("table.batches tbody tr")).to_have_count(12)
        charts = page.locator("section.card").filter(has_text="Error over time")
        sync_api.expect(charts.locator("svg.chart-line")).to_have_count(2)  # mae, rmse
        rmse = charts.locator(".chart").filter(has_text="rmse").locator("svg")
        assert rmse.locator("circle.series-dot").count() == 12
        assert rmse.locator("g.marker text").all_text_contents() == ["v2", "v1"]
        drift = page.locator("section.card").filter(has_text="Drift over time")
        assert drift.locator("g.marker").count() == 4  # drift/share and drift/columns
        # the newest batch's report is open; choose June, the changeover month
        sync_api.expect(page.locator("#drift-report")).to_contain_text("prod-2025-12")
        page.locator("table.batches tbody tr", has_text="prod-2025-06").click()
        report = page.locator("#drift-report")
        sync_api.expect(report).to_contain_text("Drift report: prod-2025-06")
        sync_api.expect(report).to_contain_text("Dataset drift")
        assert report.locator("tr.drift-row th").all_inner_texts() == ["orders", "line", "hours"]
        sync_api.expect(report.locator("svg.chart-bars")).to_have_count(4)
        assert report.locator(".drift-bars").filter(has_text="line").locator(
            "rect.bar-current").count() == 2  # A and the new B
        assert page.locator("tr.alert-row").count() == 0
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header back on top
        page.screenshot(path=str(SCREENSHOTS / "monitoring.png"), full_page=True)
