from unittest.mock import patch

from .common import ATTACKER, ATTACKER6, ProtectionCase


class TestAcl(ProtectionCase):
    def test_acl_edits(self):
        self.attack(ATTACKER, 10)
        self.attack(ATTACKER6, 10)
        self.Ban.create(
            {"server_id": self.server.id, "address": "198.51.100.0/24", "permanent": True}
        )
        bans = self.server._ban_acl_bans()
        self.assertEqual(len(bans), 3)
        edits = self.server._ban_acl_edits(bans, exists=True)
        self.assertEqual(
            edits,
            [
                ("DelCat", "odoo_bans"),
                ("NewCat", "odoo_bans"),
                ("Append", "odoo_bans", "permit", "0.0.0.0/0.0.0.0"),
                ("Append", "odoo_bans", "permit", "::/0"),
                ("Append", "odoo_bans", "deny", "198.51.100.0/24"),
                ("Append", "odoo_bans", "deny", "203.0.113.5/32"),
                ("Append", "odoo_bans", "deny", "2001:db8::/64"),
            ],
        )
        self.assertEqual(self.server._ban_acl_edits(bans, exists=False)[0], ("NewCat", "odoo_bans"))

    def test_acl_size_limit_keeps_the_most_recent(self):
        self.server.ban_acl_max = 2
        for i in range(1, 4):
            self.attack(f"203.0.113.{i}", 10, start=self.now + i * 100)
        bans = self.server._ban_acl_bans()
        self.assertEqual(len(bans), 2)
        edits = self.server._ban_acl_edits(bans, exists=False)
        self.assertEqual([e[3] for e in edits[3:]], ["203.0.113.2/32", "203.0.113.3/32"])

    def test_changes_trigger_the_push(self):
        cron = self.env.ref("asterisk_base.cron_enforce_bans")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.attack(ATTACKER, 10)
        self.assertGreater(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers
        )

    def test_push_waits_for_a_connected_pbx(self):
        self.attack(ATTACKER, 10)
        self.server._protection_push_acl()
        self.assertEqual(self.server.ban_acl_state, "pending")
        self.assertIn("not connected", self.server.ban_acl_error)

    def test_turned_off_the_pbx_keeps_no_ban(self):
        self.server.state = "connected"
        pushed = []

        def upload(server, bans):
            pushed.append([b["address"] for b in bans])

        self.attack(ATTACKER, 10)
        with patch.object(type(self.server), "_protection_upload_acl", upload):
            self.Ban._cron_enforce()
            self.server.ban_acl = False
            self.Ban._cron_enforce()
            self.Ban._cron_enforce()
        self.assertEqual(pushed, [["203.0.113.5"], []], "emptied once, then left alone")
        self.assertEqual(self.server.ban_acl_entries, 0)
