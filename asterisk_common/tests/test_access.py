from odoo.exceptions import AccessError
from odoo.tests import new_test_user

from .common import AsteriskCommonCase


class TestAccess(AsteriskCommonCase):
    def test_user_cannot_read_secret(self):
        server = self.server.with_user(self.pbx_user)
        self.assertEqual(server.name, "Test PBX")
        with self.assertRaises(AccessError):
            server.read(["secret"])
        self.assertNotIn("secret", server.fields_get())

    def test_admin_reads_secret(self):
        self.assertEqual(self.server.with_user(self.pbx_admin).secret, "s3cr3t")

    def test_user_cannot_write_server(self):
        with self.assertRaises(AccessError):
            self.server.with_user(self.pbx_user).write({"host": "10.0.0.1"})

    def test_user_cannot_touch_events_map(self):
        Map = self.env["asterisk_common.event"].with_user(self.pbx_user)
        with self.assertRaises(AccessError):
            Map.search([])
        with self.assertRaises(AccessError):
            Map.create(
                {
                    "name": "Hangup",
                    "model": "asterisk_common.user",
                    "method": "ami_originate_response",
                }
            )
        entry = self.env.ref("asterisk_common.event_originate_response_failure")
        with self.assertRaises(AccessError):
            entry.with_user(self.pbx_user).write({"condition": "True"})

    def test_user_sees_only_own_pbx_user(self):
        PbxUser = self.env["asterisk_common.user"].with_user(self.pbx_user)
        self.assertEqual(PbxUser.search([]), self.ext_user)
        with self.assertRaises(AccessError):
            self.ext_user2.with_user(self.pbx_user).read(["extension"])
        channels = self.env["asterisk_common.user_channel"].with_user(self.pbx_user).search([])
        self.assertEqual(channels.mapped("name"), ["SIP/201"])

    def test_user_edits_own_preferences_only(self):
        own = self.ext_user.with_user(self.pbx_user)
        own.write({"popup_sticky": True, "open_partner_form": True})
        self.assertTrue(self.ext_user.popup_sticky)
        with self.assertRaises(AccessError):
            own.write({"extension": "999"})
        with self.assertRaises(AccessError):
            self.ext_user2.with_user(self.pbx_user).write({"popup_sticky": True})
        with self.assertRaises(AccessError):
            self.ext_user.channel_ids.with_user(self.pbx_user).write({"name": "SIP/202"})

    def test_user_cannot_read_action_queue_or_errors(self):
        self.server.ami_action({"Action": "Ping"})
        for model in ("asterisk_common.action", "asterisk_common.dispatch_error"):
            with self.subTest(model=model), self.assertRaises(AccessError):
                self.env[model].with_user(self.pbx_user).search([])

    def test_handlers_not_callable_by_users(self):
        # Through RPC a user could forge an event (a fake "call failed" notice).
        event = {"Event": "OriginateResponse", "Response": "Failure", "ActionID": "odoo-1"}
        with self.assertRaises(AccessError):
            self.env["asterisk_common.user"].with_user(self.pbx_user).ami_originate_response(event)
        with self.assertRaises(AccessError):
            self.env["asterisk_common.user"].with_user(self.pbx_admin).ami_originate_response(event)
        self.env["asterisk_common.user"].ami_originate_response(event)  # the worker: superuser

    def test_employee_without_pbx_group(self):
        employee = new_test_user(self.env, "plain_employee", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["asterisk_common.server"].with_user(employee).search([])
        with self.assertRaises(AccessError):
            self.env["asterisk_common.user"].with_user(employee).search([])

    def test_admin_manages_everything(self):
        Map = self.env["asterisk_common.event"].with_user(self.pbx_admin)
        self.assertTrue(Map.search([]))
        self.assertEqual(
            self.env["asterisk_common.user"]
            .with_user(self.pbx_admin)
            .search([("server_id", "=", self.server.id)]),
            self.ext_user | self.ext_user2,
        )
