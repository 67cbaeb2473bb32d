from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user

from ..tools.conf_text import parse
from .common import ProtectionCase


class TestProvisioning(ProtectionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.write({"provision_context": "office", "provision_hint_context": "odoo-hints"})
        cls.users = {}
        for login, extension, devices in (
            ("ann", "101", [("PJSIP/ann", True), ("SIP/ann-old", False)]),
            ("ben", "102", [("PJSIP/ben", True), ("PJSIP/ben-mobile", True)]),
            ("cid", "103", [("PJSIP/cid", True)]),
        ):
            user = new_test_user(
                cls.env, login, name=login.title() + ' "The" <Boss>',
                groups="base.group_user,asterisk_common.group_asterisk_user",
            )  # fmt: skip
            cls.users[login] = cls.env["asterisk_common.user"].create(
                {
                    "user_id": user.id,
                    "server_id": cls.server.id,
                    "extension": extension,
                    "channel_ids": [(0, 0, {"name": n, "provision": p}) for n, p in devices],
                }
            )

    def channel(self, name):
        return self.env["asterisk_common.user_channel"].search([("name", "=", name)])

    def test_pjsip_files_for_three_users(self):
        files = self.server._provision_files()
        self.assertEqual(set(files), {"pjsip_odoo.conf", "extensions_odoo.conf"})
        cats = parse(files["pjsip_odoo.conf"])
        self.assertEqual(
            [(c.name, dict(c.lines)["type"]) for c in cats],
            [
                (name, kind)
                for name in ("ann", "ben", "ben-mobile", "cid")
                for kind in ("endpoint", "auth", "aor")
            ],
        )
        ann = [dict(c.lines) for c in cats if c.name == "ann"]
        self.assertEqual(ann[0]["context"], "office")
        self.assertEqual(ann[0]["callerid"], '"Ann The Boss" <101>', "quotes and <> taken out")
        self.assertEqual(ann[1]["password"], self.channel("PJSIP/ann").provision_secret)
        self.assertNotIn("ann-old", files["pjsip_odoo.conf"], "not provisioned: left alone")
        self.assertEqual(
            parse(files["extensions_odoo.conf"])[0].lines,
            [
                ("exten", "101,hint,PJSIP/ann&SIP/ann-old"),
                ("exten", "102,hint,PJSIP/ben&PJSIP/ben-mobile"),
                ("exten", "103,hint,PJSIP/cid"),
            ],
        )

    def test_sip_peers(self):
        self.server.provision_driver = "sip"
        self.channel("SIP/ann-old").provision = True
        files = self.server._provision_files()
        peers = parse(files["sip_odoo.conf"])
        self.assertEqual([c.name for c in peers], ["ann-old"], "SIP/ devices for chan_sip")
        self.assertEqual(dict(peers[0].lines)["host"], "dynamic")
        self.assertEqual(
            dict(peers[0].lines)["secret"], self.channel("SIP/ann-old").provision_secret
        )

    def test_secrets_are_strong_and_renewable(self):
        secrets = (
            self.env["asterisk_common.user_channel"]
            .search([("provision", "=", True)])
            .mapped("provision_secret")
        )
        self.assertEqual(len(secrets), len(set(secrets)))
        self.assertTrue(all(len(s) >= 24 for s in secrets))
        channel = self.channel("PJSIP/cid")
        old = channel.provision_secret
        channel.action_new_secret()
        self.assertNotEqual(channel.provision_secret, old)
        old_phone = self.channel("SIP/ann-old")
        old_phone.name = "Local/ann@demo"
        with self.assertRaises(ValidationError):
            old_phone.provision = True

    def test_credentials_are_their_owner_s(self):
        ann = self.users["ann"].user_id
        ben = self.users["ben"].user_id
        own = ann.with_user(ann).asterisk_sip_credentials
        self.assertIn(self.channel("PJSIP/ann").provision_secret, own)
        self.assertIn(f"Server: {self.server.host}", own)
        self.assertFalse(ann.with_user(ben).asterisk_sip_credentials)
        with self.assertRaises(AccessError):
            self.channel("PJSIP/ann").with_user(ben).read(["provision_secret"])
        self.assertTrue(ann.with_user(self.admin_user).asterisk_sip_credentials)
        self.assertEqual(
            self.channel("PJSIP/ann").with_user(ann).provision_secret,
            self.channel("PJSIP/ann").provision_secret,
            "a PBX user reads their own device",
        )

    def test_only_admins_apply(self):
        self.server.state = "connected"
        with self.assertRaises(AccessError):
            self.server.with_user(self.pbx_user).action_provision_apply()
