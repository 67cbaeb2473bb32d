from odoo import fields, models


class AsteriskDispatchError(models.Model):
    """An event whose handler raised: kept with its traceback for the admin."""

    _name = "asterisk_common.dispatch_error"
    _description = "AMI Dispatch Error"
    _order = "id desc"

    server_id = fields.Many2one(
        "asterisk_common.server", readonly=True, ondelete="cascade", index=True
    )
    event_map_id = fields.Many2one(
        "asterisk_common.event", string="Map Entry", readonly=True, ondelete="set null"
    )
    name = fields.Char(string="Event", readonly=True)
    handler = fields.Char(readonly=True, help="model.method that was called.")
    event = fields.Json(
        string="Event Data", readonly=True, help="The AMI event, as the handler received it."
    )
    error = fields.Char(readonly=True)
    traceback = fields.Text(readonly=True)
