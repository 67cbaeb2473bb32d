"""Under CI (``.ci/run`` sets ``CI``), a skipped test fails: a tour without a
browser, a drill without root or a replay without the shared captures would
otherwise pass in silence."""

import os

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which CI does not accept: {report.longrepr}"
    return report
