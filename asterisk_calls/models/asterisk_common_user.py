from odoo import _, fields, models
from odoo.exceptions import AccessError

from ..tools.numbers import to_e164


class AsteriskUser(models.Model):
    _inherit = "asterisk_common.user"

    record_calls = fields.Boolean(
        help="Every call this user answers or makes is recorded (MixMonitor).",
    )

    def action_test_popup(self, caller_name=None, caller_number="+33612345678"):
        """Send this user a popup as if a call rang (the caller's contact, last
        calls and activities as a real one shows them): checks, end to end,
        that the bus reaches their browser (a websocket proxy missing, say)."""
        self.ensure_one()
        if not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            raise AccessError(_("Only PBX administrators can send test popups."))
        number = to_e164(caller_number, self.server_id._region()) or caller_number
        partner = self.env["res.partner"].browse(
            self.env["res.partner"].sudo()._pbx_find({number}).get(number)
        )
        history = self.env["asterisk_calls.call"]._popup_history(self.user_id, partner, number)
        self.user_id._bus_send(
            "asterisk_calls.ring",
            {
                "call_id": False,
                "linkedid": "",
                "direction": "inbound",
                "caller_number": number,
                "caller_name": caller_name or _("Test call from Odoo"),
                "called_number": self.extension,
                "queue": "",
                "partner": {"id": partner.id, "name": partner.sudo().display_name}
                if partner
                else False,
                **history,
                "sticky": True,
                "open_partner_on_answer": False,
            },
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Test popup sent"),
                "message": _(
                    "%s should see it now in every open Odoo tab. If not, the browser does not "
                    "get Odoo's bus (check the /websocket proxy).",
                    self.user_id.name,
                ),
                "type": "info",
            },
        }
