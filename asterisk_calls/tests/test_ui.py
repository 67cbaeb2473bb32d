from odoo.tests import HttpCase, tagged

from odoo.addons.asterisk_calls.models import res_partner


@tagged("post_install", "-at_install")
class TestCallsUi(HttpCase):
    """The telephony UI in a real browser (Debian's chromium)."""

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

    def test_popup_stays_text_and_opens_the_contact(self):
        self.env["res.partner"].create({"name": "Robert Popup", "mobile": "06 12 34 56 78"})
        self.start_tour("/odoo", "asterisk_calls_popup", login="admin")
