"""An admin's first minutes in a real browser (Debian's chromium): a config
file edited and compared, an address unbanned, a PBX onboarded."""

from odoo.tests import HttpCase, tagged

from odoo.addons.asterisk_common.tests.screenshots import TourScreenshots

from .test_server_wizard import start_simulator

SIP_CONF = "[general]\ncontext=default\nallowguest=no\n\n[alice]\ntype=friend\nhost=static\n"


class AdminTourCase(TourScreenshots, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.env.ref("base.user_admin")
        admin.groups_id |= cls.env.ref("asterisk_common.group_asterisk_admin")


@tagged("post_install", "-at_install")
class TestConfFileTour(AdminTourCase):
    def test_edit_a_config_file_and_see_the_diff(self):
        server = self.env["asterisk_common.server"].create(
            {"name": "Tour Conf PBX", "host": "192.0.2.41", "username": "odoo", "secret": "s"}
        )
        conf = self.env["asterisk_base.conf"].create(
            {"server_id": server.id, "name": "sip.conf", "content": SIP_CONF}
        )
        conf.pbx_content = SIP_CONF  # as downloaded: no PBX needed
        self.assertEqual(conf.state, "synced")
        self.start_tour("/odoo", "asterisk_base_conf_edit", login="admin")
        self.assertEqual(conf.state, "modified")
        self.assertIn("allowguest=yes", conf.content)
        self.assertEqual(conf.pbx_content, SIP_CONF, "nothing was sent to the PBX")
        self.assertEqual(
            conf.version_ids.mapped("kind"), ["edit", "edit"], "the saved edit is a version"
        )


@tagged("post_install", "-at_install")
class TestUnbanTour(AdminTourCase):
    def test_unban_an_address(self):
        server = self.env["asterisk_common.server"].create(
            {"name": "Tour Ban PBX", "host": "192.0.2.42", "username": "odoo", "secret": "s"}
        )
        Ban = self.env["asterisk_base.ban"]
        Ban.search([("state", "=", "active")]).action_lift()
        unbanned = Ban.create(
            {"server_id": server.id, "address": "203.0.113.5", "reason": "SIP password guessing"}
        )
        kept = Ban.create({"server_id": server.id, "address": "198.51.100.7", "permanent": True})
        self.start_tour("/odoo", "asterisk_base_unban", login="admin")
        self.assertEqual(unbanned.state, "lifted")
        self.assertEqual(unbanned.lifted_by_id, self.env.ref("base.user_admin"))
        self.assertEqual(kept.state, "active")


@tagged("post_install", "-at_install")
class TestOnboardingTour(AdminTourCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = start_simulator(cls)

    def test_onboard_a_pbx(self):
        self.start_tour(
            "/odoo",
            "asterisk_base_onboarding",
            login="admin",
            cookies={"asterisk_tour_ami_port": str(self.sim.port)},
        )
        server = self.env["asterisk_common.server"].search([("name", "=", "Main PBX")])
        self.assertEqual(len(server), 1)
        self.assertEqual((server.host, server.port), ("127.0.0.1", self.sim.port))
        self.assertEqual(server.username, "odoo")
        self.assertEqual(server.secret, "odoo-secret")
