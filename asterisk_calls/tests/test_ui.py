from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from odoo.addons.asterisk_calls.models import res_partner
from odoo.addons.asterisk_common.tests.screenshots import TourScreenshots

from .test_recording import wav_bytes


class CallsUiCase(TourScreenshots, HttpCase):
    """The admin is a PBX user (their calls and popups), the company French
    (the numbers' region)."""

    def setUp(self):
        super().setUp()
        res_partner._caches.clear()
        self.addCleanup(res_partner._caches.clear)
        self.env.company.country_id = self.env.ref("base.fr")
        admin = self.env.ref("base.user_admin")
        if not self.env["asterisk_common.user"].search([("user_id", "=", admin.id)]):
            server = self.env["asterisk_common.server"].create({"name": "UI PBX", "host": "x"})
            self.env["asterisk_common.user"].create(
                {"user_id": admin.id, "server_id": server.id, "extension": "101"}
            )


@tagged("post_install", "-at_install")
class TestCallsUi(CallsUiCase):
    """The telephony UI in a real browser (Debian's chromium)."""

    def test_popup_stays_text_and_opens_the_contact(self):
        self.env["res.partner"].create({"name": "Robert Popup", "mobile": "06 12 34 56 78"})
        self.start_tour("/odoo", "asterisk_calls_popup", login="admin")

    def test_click_to_dial_from_a_contact(self):
        admin = self.env.ref("base.user_admin")
        pbx_user = self.env["asterisk_common.user"].search([("user_id", "=", admin.id)], limit=1)
        pbx_user.server_id.write({"state": "connected", "outside_prefix": "0"})
        if not pbx_user.channel_ids:
            pbx_user.channel_ids = [(0, 0, {"name": "SIP/101"})]
        partner = self.env["res.partner"].create({"name": "Robert Dial", "phone": "06 12 34 56 78"})
        self.start_tour(
            f"/odoo/contacts/{partner.id}", "asterisk_calls_click_to_dial", login="admin"
        )
        call = self.env["asterisk_calls.call"].search([("partner_id", "=", partner.id)])
        self.assertEqual(call.action_id.payload["Exten"], "00612345678")
        self.assertEqual(call.action_id.payload["Channel"], pbx_user.channel_ids[0].name)
        self.assertEqual(call.caller_user_id, admin)

    def test_recording_plays(self):
        server = self.env["asterisk_common.server"].create({"name": "Rec PBX", "host": "x"})
        call = self.env["asterisk_calls.call"].create(
            {"linkedid": "rec.1", "server_id": server.id, "status": "answered"}
        )
        recording = self.env["asterisk_calls.recording"].create(
            {"call_id": call.id, "filename": "r.wav", "state": "fetched"}
        )
        recording.attachment_id = self.env["ir.attachment"].create(
            {"name": "r.wav", "raw": wav_bytes(2.0), "res_model": recording._name,
             "res_id": recording.id, "mimetype": "audio/wav"}
        )  # fmt: skip
        action = self.env.ref("asterisk_calls.recording_action")
        self.start_tour(
            f"/odoo/action-{action.id}/{recording.id}", "asterisk_calls_recording", login="admin"
        )

    def test_calls_graph_counts_in_whole_numbers(self):
        server = self.env["asterisk_common.server"].create({"name": "Graph PBX", "host": "x"})
        for n in range(2):
            self.env["asterisk_calls.call"].create(
                {"linkedid": f"graph.{n}", "server_id": server.id, "status": "answered"}
            )
        action = self.env["ir.actions.act_window"].create(
            {
                "name": "Calls of the graph PBX",
                "res_model": "asterisk_calls.call",
                "view_mode": "graph",
                "domain": [("server_id", "=", server.id)],
            }
        )
        self.start_tour(f"/odoo/action-{action.id}", "asterisk_calls_graph", login="admin")

    def test_live_calls_follow_the_bus(self):
        admin = self.env.ref("base.user_admin")
        pbx_user = self.env["asterisk_common.user"].search([("user_id", "=", admin.id)], limit=1)
        pbx_user.server_id.state = "connected"
        if not pbx_user.channel_ids:
            pbx_user.channel_ids = [(0, 0, {"name": "SIP/101"})]
        self.env["asterisk_calls.call"].search(
            [("status", "in", ("ringing", "in_progress"))]
        ).write({"status": "failed"})
        action = self.env.ref("asterisk_calls.call_action_live")
        self.start_tour(f"/odoo/action-{action.id}", "asterisk_calls_live", login="admin")


@tagged("post_install", "-at_install")
class TestCallsUiPhone(CallsUiCase):
    """The popup on a phone (Odoo's mobile layout, touch): all of it within
    the screen, nothing covered, long values wrapped."""

    browser_size = "375x667"
    touch_enabled = True

    def test_popup_fits_a_phone_screen(self):
        admin = self.env.ref("base.user_admin")
        partner = self.env["res.partner"].create(
            {"name": "Robert Phone-Screen", "mobile": "06 98 76 54 32"}
        )
        server = self.env["asterisk_common.user"].search([("user_id", "=", admin.id)]).server_id
        now = fields.Datetime.now()
        for n, status in enumerate(("answered", "no_answer", "busy")):
            self.env["asterisk_calls.call"].create(
                {
                    "linkedid": f"phone.{n}",
                    "server_id": server[:1].id,
                    "direction": "inbound",
                    "status": status,
                    "caller_number": "+33698765432",
                    "called_number": "101",
                    "partner_id": partner.id,
                    "user_ids": [(6, 0, admin.ids)],
                    "answered_by_id": admin.id if status == "answered" else False,
                    "started_at": now - timedelta(days=n + 1),
                    "ended_at": now - timedelta(days=n + 1) + timedelta(minutes=2),
                }
            )
        for summary in ("Send the quotation again", "Call back about the delivery"):
            partner.activity_schedule(
                "mail.mail_activity_data_call", summary=summary, user_id=admin.id
            )
        self.start_tour("/odoo", "asterisk_calls_popup_phone", login="admin")
