from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestServerForm(HttpCase):
    """The server form in a real browser (Debian's chromium)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.env["asterisk_common.server"].create(
            {"name": "UI PBX", "host": "192.0.2.10", "username": "odoo", "secret": "ui-secret"}
        )
        new_test_user(
            cls.env,
            "ui_pbx_user",
            password="ui_pbx_user",
            groups="base.group_user,asterisk_common.group_asterisk_user",
        )

    def _url(self):
        action = self.env.ref("asterisk_common.asterisk_common_server_action")
        return f"/odoo/action-{action.id}/{self.server.id}"

    def test_admin_sees_settings_secret_and_health(self):
        self.start_tour(self._url(), "asterisk_common_server_admin", login="admin")

    def test_user_never_gets_the_secret(self):
        self.start_tour(self._url(), "asterisk_common_server_user", login="ui_pbx_user")
