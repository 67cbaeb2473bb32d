from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from odoo.addons.asterisk_calls.models import res_partner
from odoo.addons.asterisk_common.tests.screenshots import TourScreenshots


@tagged("post_install", "-at_install")
class TestContactCallsUi(TourScreenshots, HttpCase):
    """A known contact's call, from the popup to their calls and the reports."""

    def setUp(self):
        super().setUp()
        res_partner._caches.clear()
        self.addCleanup(res_partner._caches.clear)
        self.env.company.country_id = self.env.ref("base.fr")
        admin = self.env.ref("base.user_admin")
        admin.groups_id |= self.env.ref("asterisk_common.group_asterisk_admin")
        self.pbx_user = self.env["asterisk_common.user"].search(
            [("user_id", "=", admin.id)], limit=1
        )
        if not self.pbx_user:
            server = self.env["asterisk_common.server"].create({"name": "UI PBX", "host": "x"})
            self.pbx_user = self.env["asterisk_common.user"].create(
                {"user_id": admin.id, "server_id": server.id, "extension": "101"}
            )

    def test_contact_calls_and_reports(self):
        admin = self.env.ref("base.user_admin")
        partner = self.env["res.partner"].create(
            {"name": "Robert Calls", "mobile": "06 71 82 93 04"}
        )
        now = fields.Datetime.now()
        calls = [
            ("in.1", "inbound", "answered", 2, 155),
            ("in.2", "inbound", "no_answer", 1, 0),
            ("out.1", "outbound", "answered", 0, 62),
        ]
        for linkedid, direction, status, hours_ago, talk in calls:
            started = now - timedelta(hours=hours_ago, minutes=5)
            self.env["asterisk_calls.call"].create(
                {
                    "linkedid": f"contact.{linkedid}",
                    "server_id": self.pbx_user.server_id.id,
                    "direction": direction,
                    "status": status,
                    "caller_number": "+33671829304" if direction == "inbound" else "101",
                    "called_number": "101" if direction == "inbound" else "+33671829304",
                    "partner_id": partner.id,
                    "user_ids": [(6, 0, admin.ids)],
                    "answered_by_id": admin.id if status == "answered" else False,
                    "started_at": started,
                    "answered_at": started + timedelta(seconds=8) if talk else False,
                    "ended_at": started + timedelta(seconds=8 + talk),
                    "talk_seconds": talk,
                    "ring_seconds": 8,
                }
            )
        self.start_tour("/odoo", "asterisk_calls_contact_calls", login="admin")
