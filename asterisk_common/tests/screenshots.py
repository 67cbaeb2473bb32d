"""Screenshots of the UI taken by the browser tours, when ASTERISK_SCREENSHOTS=1.

A test case that mixes in ``TourScreenshots`` saves, for each tour it runs,
its last screen as ``var/screenshots/<tour>.png`` and, for each
``screenshot(name)`` step of the tour (``static/tests/tours/screenshot.js``),
the page at that step as ``var/screenshots/<tour>-<name>.png``, at the
viewport of Odoo's tests (``HttpCase.browser_size``, 1366x768). Without the
variable nothing is captured and those steps do nothing: CI loses no time.
"""

import base64
import json
import logging
import os
import re
from pathlib import Path
from unittest.mock import patch

from odoo.tests import common

_logger = logging.getLogger(__name__)

SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PREFIX = "asterisk_screenshot:"


def enabled():
    return os.environ.get("ASTERISK_SCREENSHOTS") == "1"


def _file_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "screen"


class ScreenshotBrowser(common.ChromeBrowser):
    """Odoo's test browser, taking the screenshots the tour asks for."""

    def __init__(self, test_case, *args, **kwargs):
        super().__init__(test_case, *args, **kwargs)
        self._websocket_request(
            "Page.addScriptToEvaluateOnNewDocument",
            params={"source": "window.__asteriskScreenshots = true;"},
        )

    def _capture(self, name, then):
        """Save the page as ``name``.png, then call ``then`` (in the websocket
        thread: nothing here may wait for Chrome's answer)."""
        future = self._websocket_send(
            "Page.captureScreenshot", params={"format": "png"}, with_future=True
        )

        def saved(future):
            try:
                png = base64.b64decode(future.result()["data"], validate=True)
                SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
                path = SCREENSHOTS_DIR / f"{_file_name(name)}.png"
                path.write_bytes(png)
                _logger.info("screenshot: %s", path)
            except Exception:  # a screenshot never fails a test
                _logger.warning("screenshot %s not saved", name, exc_info=True)
            finally:
                then()

        if future is None:
            then()
        else:
            future.add_done_callback(saved)

    def _handle_console(self, type, args=None, stackTrace=None, **kw):  # noqa: A002
        first = str(self._from_remoteobject(args[0])) if args else ""
        tour = getattr(self.test_case, "_asterisk_tour", None) or "tour"
        if type == "log" and first.startswith(PREFIX):
            name = first[len(PREFIX) :]

            def release():
                self._websocket_send(
                    "Runtime.evaluate",
                    params={"expression": f"window.__asteriskScreenshotTaken = {json.dumps(name)}"},
                )

            self._capture(f"{tour}-{name}", release)
            return
        parent = super()._handle_console
        if type == "log" and first == self.success_signal and not self._result.done():
            # the tour's last screen, before the test ends
            self._capture(tour, lambda: parent(type, args, stackTrace, **kw))
            return
        parent(type, args, stackTrace, **kw)


class TourScreenshots:
    """HttpCase mixin: its tours take screenshots when ASTERISK_SCREENSHOTS=1."""

    def start_tour(self, url_path, tour_name, step_delay=None, **kwargs):
        self._asterisk_tour = tour_name
        if not enabled():
            return super().start_tour(url_path, tour_name, step_delay, **kwargs)
        with patch.object(common, "ChromeBrowser", ScreenshotBrowser):
            return super().start_tour(url_path, tour_name, step_delay, **kwargs)
