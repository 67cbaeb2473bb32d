from odoo import fields, models


class AsteriskAction(models.Model):
    _inherit = "asterisk_common.action"

    def _worker_done(self, state, reply, error):
        super()._worker_done(state, reply, error)
        if state == "done":
            return
        # A click-to-dial Originate that never reached Asterisk: its call
        # (created at the click) will get no event, so it ends here.
        calls = (
            self.env["asterisk_calls.call"]
            .sudo()
            .search(
                [("action_uid", "in", self.mapped("action_uid")), ("status", "in", ("ringing",))]
            )
        )
        for call in calls.filtered(lambda c: not c.channel_ids):
            now = fields.Datetime.now()
            call.with_context(tracking_disable=True).write(
                {
                    "status": "failed",
                    "ended_at": now,
                    "last_event_at": now,
                    "timeline": [
                        *(call.timeline or []),
                        {
                            "t": now.timestamp(),
                            "k": "not_placed",
                            "key": "not_placed",
                            "error": error or state,
                        },
                    ],
                    "followup": True,
                }
            )
