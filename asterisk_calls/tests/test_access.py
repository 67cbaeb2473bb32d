from odoo.exceptions import AccessError
from odoo.tests import new_test_user

from .common import CallsCase


class TestAccess(CallsCase):
    """PBX users read the calls they took part in; PBX admins all of them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.outsider = new_test_user(cls.env, "notpbx", groups="base.group_user")

    def setUp(self):
        super().setUp()
        self.replay_capture("i1_redirect_bridged_channel")  # Alice -> Bob
        self.replay_capture("d_sip_call_alice_to_100")  # Alice alone
        self.replay_capture("a_originate_answered")  # nobody
        self.alice_bob, self.alice_100, self.nobody = self.calls()

    def test_users_read_their_own_calls(self):
        Call = self.Call.with_user(self.bob)
        self.assertEqual(Call.search([]), self.alice_bob)
        self.assertEqual(
            self.Call.with_user(self.alice).search([]), self.alice_bob | self.alice_100
        )
        self.assertFalse(self.Call.with_user(self.carol).search([]))
        with self.assertRaises(AccessError):
            self.alice_100.with_user(self.bob).read(["caller_number"])
        channels = self.env["asterisk_calls.channel"].with_user(self.bob).search([])
        self.assertEqual(channels, self.alice_bob.channel_ids)
        rows = self.env["asterisk_calls.user_report"].with_user(self.bob).search([])
        self.assertEqual(rows.call_id, self.alice_bob)

    def test_admins_read_all_calls(self):
        Call = self.Call.with_user(self.admin_user)
        mine = self.alice_bob | self.alice_100 | self.nobody
        self.assertEqual(Call.search([("id", "in", mine.ids)]), mine)

    def test_users_edit_only_notes(self):
        call = self.alice_bob.with_user(self.bob)
        call.note = "Asked for a quote"
        self.assertEqual(self.alice_bob.note, "Asked for a quote")
        for vals in ({"status": "failed"}, {"answered_by_id": self.bob.id}, {"partner_id": False}):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                call.write(vals)
        with self.assertRaises(AccessError):
            call.unlink()
        with self.assertRaises(AccessError):
            self.Call.with_user(self.bob).create({"linkedid": "x", "server_id": self.server.id})

    def test_non_pbx_users_see_nothing(self):
        with self.assertRaises(AccessError):
            self.Call.with_user(self.outsider).search([])
        with self.assertRaises(AccessError):
            self.env["asterisk_calls.channel"].with_user(self.outsider).search([])

    def test_handler_refuses_rpc_callers(self):
        with self.assertRaises(AccessError):
            self.Call.with_user(self.admin_user).ami_call_events([{"Event": "Hangup"}])

    def test_partner_smart_button_counts_only_visible_calls(self):
        partner = self.env["res.partner"].create({"name": "Robert", "phone": "+33612345678"})
        self.alice_bob.partner_id = partner
        self.alice_100.partner_id = partner
        self.assertEqual(partner.with_user(self.bob).pbx_call_count, 1)
        self.assertEqual(partner.with_user(self.admin_user).pbx_call_count, 2)
