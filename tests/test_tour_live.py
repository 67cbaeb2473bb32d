"""The onboarding tour through the whole stack: a real browser, a real Odoo
server with the AMI worker (its own process and database, where every request
commits), the AMI simulator over TCP. The addons' own tours run inside Odoo's
test transaction, which no worker can see: there the wizard is proven, here
that the server it creates gets connected and shows its live status."""

import pytest

from odoo.tests import HttpCase, tagged
from odoo.tests.common import HOST

from odoo.addons.asterisk_common.tests.screenshots import TourScreenshots

from .ami_simulator import SimulatorThread
from .odoo_env import copy_db, drop_db, query, unique_db
from .worker_env import OdooServer


@tagged("post_install", "-at_install")
class TestOnboardingLive(TourScreenshots, HttpCase):
    live = None  # the Odoo server the browser talks to

    @pytest.fixture(autouse=True)
    def _live_odoo(self, request, calls_template):
        db = unique_db("tour_live")
        copy_db(calls_template, db)
        # The template's own server aims nowhere: only the one the tour creates.
        query(db, "UPDATE asterisk_common_server SET active = false")
        sim = SimulatorThread(port=0).start()
        server = OdooServer(db, name="tour_live")
        type(self).live = server
        try:
            server.start()
            server.wait_log(r"AMI worker .* started", 60)
            group = server.rpc(
                "ir.model.data",
                "search_read",
                [("module", "=", "asterisk_common"), ("name", "=", "group_asterisk_admin")],
                fields=["res_id"],
            )[0]["res_id"]
            server.rpc("res.users", "write", [2], {"groups_id": [(4, group)]})
            self.sim = sim
            yield
        finally:
            type(self).live = None
            server.stop()
            sim.close()
            report = getattr(request.node, "rep_call", None)  # see conftest.py
            if report is not None and report.failed:
                print(f"----- live Odoo log tail -----\n{server.log()[-4000:]}")
            server.discard()
            drop_db(db)

    @classmethod
    def base_url(cls):
        # The browser goes to the live server; Odoo's own (test) server is idle.
        if cls.live is not None:
            return f"http://{HOST}:{cls.live.http_port}"
        return super().base_url()

    def authenticate(self, user, password, browser=None):
        """Log in on the live server, as its login page would, and hand the
        browser that session."""
        session = self.live.web_session(user, password)
        if browser:
            browser.set_cookie("session_id", session.cookies["session_id"], "/", HOST)
        return session

    def test_onboard_a_pbx_and_see_it_live(self):
        self.sim.start_call("long_call", appdata="300", cid=("7001", "Tour Caller"))
        self.start_tour(
            "/odoo?debug=tests",  # the live server is no test server: ask for the tours
            "asterisk_base_onboarding_live",
            login="admin",
            cookies={"asterisk_tour_ami_port": str(self.sim.port)},
            timeout=120,
        )
        db = self.live.db
        rows = query(
            db,
            "SELECT state, port FROM asterisk_common_server WHERE name = 'Main PBX' AND active",
        )
        assert rows == [("connected", self.sim.port)], rows
        # The page's channels were asked over the worker's connection (the
        # one still open; the wizard's probe logged off).
        asked = {
            action["_session"]
            for action in self.sim.actions_received
            if action.get("Action") == "CoreShowChannels"
        }
        assert asked & {id(session) for session in self.sim.sessions}, asked
        # The call was up before the PBX was added: found at the first connect.
        [(status, timeline)] = query(
            db, "SELECT status, timeline FROM asterisk_calls_call WHERE caller_name = 'Tour Caller'"
        )
        assert status == "in_progress" and "adopted" in [e["k"] for e in timeline], timeline
