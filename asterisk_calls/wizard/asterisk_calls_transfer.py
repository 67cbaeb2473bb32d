from odoo import api, fields, models


class AsteriskCallTransfer(models.TransientModel):
    _name = "asterisk_calls.transfer"
    _description = "Transfer a Call"

    call_id = fields.Many2one("asterisk_calls.call", required=True, ondelete="cascade")
    server_id = fields.Many2one(related="call_id.server_id")
    target = fields.Selection(
        [("user", "A Colleague"), ("number", "A Number")], default="user", required=True
    )
    user_id = fields.Many2one(
        "res.users",
        string="Colleague",
        domain="[('asterisk_user_ids.server_id', '=', server_id)]",
    )
    number = fields.Char()
    attended = fields.Boolean(
        string="Talk First",
        help="Attended transfer: you talk to the colleague first, then hang up to hand over "
        "the call.",
    )
    dial_preview = fields.Char(string="Dialled As", compute="_compute_dial_preview")

    @api.depends("number", "call_id")
    def _compute_dial_preview(self):
        for wizard in self:
            wizard.dial_preview = (
                wizard.call_id.server_id._dial_string(wizard.number) if wizard.number else False
            )

    def action_transfer(self):
        self.ensure_one()
        return self.call_id.pbx_transfer(
            target_user_id=self.user_id.id if self.target == "user" else False,
            number=self.number if self.target == "number" else False,
            attended=self.attended,
        )
