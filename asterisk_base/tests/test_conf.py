from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user

from ..models.asterisk_base_conf import diff_html, reload_module_of
from .common import ProtectionCase

# "config list" of the Asterisk 20 that recorded the shared captures.
CONFIG_LIST = [
    "core                 /opt/asterisk/etc/asterisk/asterisk.conf          ",
    "cdr_csv              /opt/asterisk/etc/asterisk/cdr.conf               ",
    "core                 /opt/asterisk/etc/asterisk/cdr.conf               ",
    "pbx_config           /opt/asterisk/etc/asterisk/extensions.conf        ",
    "core                 /opt/asterisk/etc/asterisk/features.conf          ",
    "app_queue            /opt/asterisk/etc/asterisk/queues.conf            ",
    "chan_sip             /opt/asterisk/etc/asterisk/sip.conf               ",
    "res_pjsip            /opt/asterisk/etc/asterisk/pjsip_wizard.conf      ",
]


def fake_pbx(files):
    """``ami_action_sync`` answering GetConfig from ``{name: {header: value}}``
    and "config list"; records what was sent."""
    sent = []

    def ami_action_sync(server, action, **kwargs):
        sent.append(dict(action))
        if action["Action"] == "Command":
            response = {"Response": "Success", "Output": CONFIG_LIST}
        elif action["Action"] == "GetConfig" and action["Filename"] in files:
            response = {"Response": "Success", **files[action["Filename"]]}
        elif action["Action"] == "GetConfig":
            return {"state": "failed", "reply": {}, "error": "Config file not found"}
        else:
            response = {"Response": "Success"}
        return {"state": "done", "reply": {"response": response}, "error": False}

    return sent, patch(
        "odoo.addons.asterisk_common.models.asterisk_common_server.AsteriskServer.ami_action_sync",
        ami_action_sync,
    )


SIP = {
    "Category-000000": "general",
    "Line-000000-000000": "context=demo",
    "Category-000001": "phone",
    "IsTemplate-000001": "1",
    "Line-000001-000000": "type=friend",
    "Category-000002": "alice",
    "Templates-000002": "phone",
    "Line-000002-000000": "type=friend",
    "Line-000002-000001": "secret=a;b",
}


class TestConf(ProtectionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.state = "connected"
        cls.Conf = cls.env["asterisk_base.conf"].with_user(cls.admin_user)

    def test_download_renders_the_pbx_file(self):
        sent, fake = fake_pbx({"sip.conf": SIP})
        conf = self.Conf.create({"server_id": self.server.id, "name": "sip.conf"})
        self.assertEqual(conf.reload_module, "chan_sip")
        with fake:
            conf.action_download()
        self.assertEqual(
            conf.content,
            "[general]\ncontext = demo\n\n[phone](!)\ntype = friend\n\n"
            "[alice](phone)\nsecret = a\\;b\n",
        )
        self.assertEqual(conf.state, "synced")
        # With the filter, or Asterisk leaves [phone] out.
        self.assertEqual(
            sent, [{"Action": "GetConfig", "Filename": "sip.conf", "Filter": "TEMPLATES=include"}]
        )
        # Odoo's comments stay when the PBX says the same thing.
        conf.content = "; mine\n" + conf.content
        with fake:
            conf.action_download()
        self.assertTrue(conf.content.startswith("; mine\n"))
        self.assertEqual(conf.version_ids.sorted("id").mapped("kind"), ["download", "edit"])
        self.assertEqual(conf.version_ids.user_id, self.admin_user)

    def test_states(self):
        conf = self.Conf.create(
            {"server_id": self.server.id, "name": "x.conf", "content": "[a]\nb = 1\n"}
        )
        self.assertEqual(conf.state, "new")
        conf.pbx_content = "[a]\nb=1\n"
        self.assertEqual(conf.state, "synced")
        conf.content = "[a]\nb = 2\n"
        self.assertEqual(conf.state, "modified")
        self.assertIn("+b = 2", conf.changes_html)
        conf.content = "b = 2\n"
        self.assertEqual(conf.state, "invalid")
        self.assertIn("before the first", conf.parse_error)
        with self.assertRaises(UserError):
            conf.action_upload()

    def test_file_names(self):
        bad_names = ("../etc/passwd", "sip", "/etc/asterisk/sip.conf", ".hidden.conf", "a b.conf")
        for bad in (*bad_names, "sip.conf\n"):
            with self.assertRaises(ValidationError, msg=bad):
                self.Conf.create({"server_id": self.server.id, "name": bad})
        self.assertEqual(reload_module_of("pjsip_wizard.conf"), "res_pjsip")
        self.assertEqual(reload_module_of("sip_odoo.conf"), "chan_sip")

    def test_diff_escapes_everything(self):
        html = diff_html("[a]\nx = 1\n", '[a]\nx = <script>alert("x")</script>\n', "a", "b")
        self.assertNotIn("<script>", html)
        self.assertIn("&lt;script&gt;", html)

    def test_file_list_from_config_list(self):
        sent, fake = fake_pbx({})
        with fake:
            files = self.Conf._pbx_file_list(self.server)
        self.assertEqual(
            files,
            {
                "asterisk.conf": False,
                "cdr.conf": "cdr_csv",
                "extensions.conf": "pbx_config",
                "features.conf": False,
                "queues.conf": "app_queue",
                "sip.conf": "chan_sip",
                "pjsip_wizard.conf": "res_pjsip",
            },
        )

    def test_generated_files_are_odoo_s(self):
        conf = self.Conf._set_generated(self.server, "sip_odoo.conf", "[odoo]\na = 1\n")
        self.assertTrue(conf.generated)
        with self.assertRaises(UserError):
            conf.content = "[mine]\n"
        self.Conf._set_generated(self.server, "sip_odoo.conf", "[odoo]\na = 2\n")
        self.assertEqual(conf.version_ids.mapped("kind"), ["generated", "generated"])
        self.Conf.create({"server_id": self.server.id, "name": "hand.conf"})
        with self.assertRaises(UserError):
            self.Conf._set_generated(self.server, "hand.conf", "[x]\n")

    def test_only_pbx_admins(self):
        conf = self.Conf.create({"server_id": self.server.id, "name": "sip.conf"})
        internal = new_test_user(self.env, "plain_employee", groups="base.group_user")
        sent, fake = fake_pbx({"sip.conf": SIP})
        for user in (self.pbx_user, internal):
            for model in ("asterisk_base.conf", "asterisk_base.conf_version"):
                with self.assertRaises(AccessError):
                    self.env[model].with_user(user).search([])
            with self.assertRaises(AccessError), fake:
                conf.with_user(user).action_download()
            with self.assertRaises(AccessError), fake:
                self.server.with_user(user).action_conf_download_all()
        self.assertEqual(sent, [], "nothing reached the PBX")
