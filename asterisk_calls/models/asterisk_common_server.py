from odoo import _, fields, models


class AsteriskServer(models.Model):
    _inherit = "asterisk_common.server"

    live_call_count = fields.Integer(compute="_compute_live_call_count")

    def _compute_live_call_count(self):
        counts = dict(
            self.env["asterisk_calls.call"]._read_group(
                [("server_id", "in", self.ids), ("is_live", "=", True)],
                ["server_id"],
                ["__count"],
            )
        )
        for server in self:
            server.live_call_count = counts.get(server, 0)

    def _ami_resync(self, channels, snapshot_time=None):
        super()._ami_resync(channels, snapshot_time=snapshot_time)
        self.env["asterisk_calls.call"]._resync(self, channels, snapshot_time or 0)

    def action_view_live_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.call_action")
        action.update(
            domain=[("server_id", "=", self.id), ("is_live", "=", True)],
            name=_("Calls in progress on %s", self.name),
            context={},
        )
        return action
