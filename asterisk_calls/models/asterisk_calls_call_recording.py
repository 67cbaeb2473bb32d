import re
import time

from odoo import _, api, fields, models
from odoo.exceptions import UserError


class AsteriskCallRecording(models.Model):
    """Recording a call (MixMonitor), on demand or for chosen users and queues."""

    _inherit = "asterisk_calls.call"

    recording_ids = fields.One2many("asterisk_calls.recording", "call_id", string="Recordings")
    recording_count = fields.Integer(compute="_compute_recording_count")
    is_recording = fields.Boolean(compute="_compute_recording_count")

    def unlink(self):
        # Through the ORM, so that their audio leaves the filestore too (the
        # database's cascade would delete the rows and orphan the files).
        self.sudo().recording_ids.unlink()
        return super().unlink()

    @api.depends("recording_ids.state")
    def _compute_recording_count(self):
        for call in self:
            call.recording_count = len(call.recording_ids)
            call.is_recording = any(r.state == "recording" for r in call.recording_ids)

    def _record_channel(self):
        """The channel to record: the user's own, else (admins, automatic
        recordings) the answering user's, else the caller's."""
        live = self._live_channels()
        mine = live.filtered(lambda c: c.user_id == self.env.user and not c.is_local)
        answering = live.filtered(lambda c: c.user_id and c.user_id == self.answered_by_id)
        parties = live.filtered(lambda c: not c.is_local)
        channel = (mine or answering or parties or live)[:1]
        if not channel:
            raise UserError(_("Nothing to record: the call has no live channel."))
        return channel

    def _start_recording(self, channel):
        name = re.sub(r"[^A-Za-z0-9._-]", "-", f"odoo-{self.linkedid}-{int(time.time())}.wav")
        self.server_id.sudo().ami_action(
            {"Action": "MixMonitor", "Channel": channel.name, "File": name, "Options": "b"},
            expire=10,
        )
        return (
            self.env["asterisk_calls.recording"]
            .sudo()
            .create({"call_id": self.id, "channel": channel.name, "filename": name})
        )

    def action_record_start(self):
        self.ensure_one()
        self._check_live()
        if not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            self._my_channel()  # users record the calls they are in
        self._start_recording(self._record_channel())
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": _("Recording"), "message": self.display_name, "type": "info"},
        }

    def action_record_stop(self):
        self.ensure_one()
        if not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            self._my_channel()
        for recording in self.sudo().recording_ids.filtered(lambda r: r.state == "recording"):
            self.server_id.sudo().ami_action(
                {"Action": "StopMixMonitor", "Channel": recording.channel}, expire=10
            )
        return True

    def action_view_recordings(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.recording_action")
        action.update(domain=[("call_id", "=", self.id)], context={})
        return action

    def _auto_record(self):
        """Calls answered by a user who records their calls, or through a
        recorded queue, are recorded at once."""
        recorded = set()
        server_ids = self.sudo().server_id.ids
        queues = self.sudo().server_id.filtered("record_queues")
        users = (
            self.env["asterisk_common.user"]
            .sudo()
            .search_count([("server_id", "in", server_ids), ("record_calls", "=", True)], limit=1)
        )
        if not queues and not users:
            return recorded
        for call in self.sudo():
            if call.recording_ids:
                continue
            queues = {q.strip() for q in (call.server_id.record_queues or "").split(",")}
            users = call.answered_by_id | call.caller_user_id
            by_user = self.env["asterisk_common.user"].search_count(
                [
                    ("user_id", "in", users.ids),
                    ("server_id", "=", call.server_id.id),
                    ("record_calls", "=", True),
                ]
            )
            if by_user or (call.queue and call.queue in queues):
                try:
                    call._start_recording(call._record_channel())
                    recorded.add(call.id)
                except UserError:
                    continue
        return recorded
