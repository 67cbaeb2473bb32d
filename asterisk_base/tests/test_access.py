from odoo.exceptions import AccessError

from .common import ATTACKER, ProtectionCase

PROTECTION_MODELS = (
    "asterisk_base.security_event",
    "asterisk_base.ban",
    "asterisk_base.ban_policy",
    "asterisk_base.whitelist",
    "asterisk_base.targeted_account",
    "asterisk_base.acl_push",
)


class TestAccess(ProtectionCase):
    def test_pbx_users_see_nothing_of_the_protection(self):
        self.attack(ATTACKER, 10)
        for model in PROTECTION_MODELS:
            with self.assertRaises(AccessError, msg=model):
                self.env[model].with_user(self.pbx_user).search([])
        server = self.server.with_user(self.pbx_user)
        with self.assertRaises(AccessError):
            server.read(["ban_feed_token"])
        with self.assertRaises(AccessError):
            server.action_generate_ban_token()

    def test_admins_manage_it(self):
        self.attack(ATTACKER, 10)
        ban = self.bans(ATTACKER).with_user(self.admin_user)
        self.assertEqual(ban.read(["address"])[0]["address"], ATTACKER)
        ban.action_lift()
        server = self.server.with_user(self.admin_user)
        server.action_generate_ban_token()
        self.assertEqual(len(server.ban_feed_token), 43)
        # Nobody edits what the PBX reported.
        with self.assertRaises(AccessError):
            self.env["asterisk_base.security_event"].with_user(self.admin_user).create(
                {"server_id": self.server.id, "event": "InvalidPassword"}
            )
