import logging
import mimetypes
import os
import posixpath
from datetime import timedelta
from urllib.parse import quote

import requests
from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.asterisk_common.tools import ami_handler

_logger = logging.getLogger(__name__)

# Fetching gives up after this many attempts, spaced out more and more.
RETRY_MINUTES = (1, 2, 5, 10, 30, 60, 120, 240, 480, 960)
MAX_SIZE = 200 * 1024 * 1024


class AsteriskRecording(models.Model):
    """A recording of a call: where Asterisk wrote it, and its audio brought
    into Odoo (an attachment) without any agent on the PBX host."""

    _name = "asterisk_calls.recording"
    _description = "Call Recording"
    _order = "id desc"

    call_id = fields.Many2one(
        "asterisk_calls.call", required=True, index=True, ondelete="cascade", readonly=True
    )
    server_id = fields.Many2one(related="call_id.server_id", store=True, index=True)
    channel = fields.Char(readonly=True, help="The channel Asterisk recorded (MixMonitor).")
    filename = fields.Char(
        readonly=True,
        help="The file as Asterisk named it (MIXMONITOR_FILENAME), often a full path.",
    )
    state = fields.Selection(
        [
            ("recording", "Recording"),
            ("waiting", "To Fetch"),
            ("fetched", "Available"),
            ("failed", "Not Fetched"),
            ("deleted", "Deleted"),
        ],
        default="recording",
        required=True,
        readonly=True,
        index=True,
    )
    attachment_id = fields.Many2one("ir.attachment", readonly=True, ondelete="set null")
    size = fields.Integer(readonly=True)
    started_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    stopped_at = fields.Datetime(readonly=True)
    fetch_attempts = fields.Integer(readonly=True)
    next_fetch_at = fields.Datetime(readonly=True, index=True)
    last_error = fields.Char(readonly=True)
    keep = fields.Boolean(
        help="Never deleted by the retention rule. Supervisors and administrators only: "
        "the retention is the company's rule, not a participant's choice."
    )
    player = fields.Html(compute="_compute_player", sanitize=False)

    @api.depends("attachment_id")
    def _compute_player(self):
        for rec in self:
            if rec.attachment_id:
                rec.player = Markup(
                    '<audio class="o_asterisk_recording" controls="controls" preload="none" '
                    'src="/web/content/%d"></audio>'
                ) % (rec.attachment_id.id,)
            else:
                rec.player = False

    def write(self, vals):
        if not self.env.su:
            if set(vals) - {"keep"}:
                raise UserError(_("Recordings are made by the PBX: only Keep can be changed."))
            if not self.env.user.has_group("asterisk_calls.group_asterisk_supervisor"):
                raise AccessError(
                    _("Only PBX supervisors and administrators can keep a recording.")
                )
        return super().write(vals)

    # -- events -----------------------------------------------------------------------

    @ami_handler(batch=True)
    def ami_recording_events(self, events):
        """MIXMONITOR_FILENAME (VarSet) names a recording's file; MixMonitorStop
        ends it. A recording started from outside Odoo (the dialplan, a
        phone's feature code) is known from these too."""
        Call = self.env["asterisk_calls.call"]
        for event in events:
            linkedid = event.get("Linkedid") or event.get("_linkedid")
            call = Call.search(
                [("server_id", "=", event.get("_server_id")), ("linkedid", "=", linkedid)],
                limit=1,
            )
            if not call:
                continue
            channel = event.get("Channel") or ""
            recording = self.search(
                [("call_id", "=", call.id), ("channel", "=", channel), ("state", "=", "recording")],
                limit=1,
            )
            if event.get("Event") == "VarSet":
                filename = event.get("Value") or ""
                if not recording:
                    recording = self.search(
                        [("call_id", "=", call.id), ("filename", "=", filename)], limit=1
                    )
                if recording:
                    recording.filename = filename
                else:
                    self.create({"call_id": call.id, "channel": channel, "filename": filename})
            elif event.get("Event") == "MixMonitorStop" and recording:
                recording.write({"stopped_at": fields.Datetime.now()})

    @api.model
    def _calls_ended(self, calls):
        """The calls' recordings are complete: fetch them soon (the PBX closes
        the file when the channel hangs up)."""
        recordings = self.search([("call_id", "in", calls.ids), ("state", "=", "recording")])
        if recordings:
            recordings.write(
                {
                    "state": "waiting",
                    "next_fetch_at": fields.Datetime.now() + timedelta(seconds=5),
                    "stopped_at": fields.Datetime.now(),
                }
            )
            self.env.ref("asterisk_calls.cron_recording_fetch")._trigger(
                fields.Datetime.now() + timedelta(seconds=6)
            )

    # -- fetching -----------------------------------------------------------------------

    @api.model
    def _cron_fetch(self, limit=20):
        due = self.search(
            [("state", "=", "waiting"), ("next_fetch_at", "<=", fields.Datetime.now())],
            limit=limit,
            order="next_fetch_at",
        )
        for recording in due:
            recording._fetch()
        if len(due) == limit:
            self.env.ref("asterisk_calls.cron_recording_fetch")._trigger()

    def action_fetch_now(self):
        for recording in self.filtered(lambda r: r.state in ("waiting", "failed")):
            recording.sudo()._fetch()

    def _fetch(self):
        self.ensure_one()
        server = self.server_id.sudo()
        try:
            data = self._read_from(server)
        except Exception as e:  # every failure is shown and retried
            attempts = self.fetch_attempts + 1
            failed = attempts >= len(RETRY_MINUTES) or server.recording_source == "none"
            delay = RETRY_MINUTES[min(attempts, len(RETRY_MINUTES)) - 1]
            self.sudo().write(
                {
                    "fetch_attempts": attempts,
                    "last_error": str(e)[:250],
                    "state": "failed" if failed else "waiting",
                    "next_fetch_at": fields.Datetime.now() + timedelta(minutes=delay),
                }
            )
            _logger.info("recording %s not fetched (%d): %s", self.filename, attempts, e)
            return False
        name = posixpath.basename(self.filename or "") or f"call-{self.call_id.id}.wav"
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": name,
                    "raw": data,
                    "res_model": self._name,
                    "res_id": self.id,
                    "mimetype": mimetypes.guess_type(name)[0] or "audio/wav",
                }
            )
        )
        self.sudo().write(
            {
                "attachment_id": attachment.id,
                "state": "fetched",
                "size": len(data),
                "last_error": False,
                "fetch_attempts": self.fetch_attempts + 1,
            }
        )
        return True

    def _relative_path(self, server):
        """The file's path under the PBX's recordings folder; refuses a path
        that leaves it (the file name comes from the PBX's events)."""
        filename = (self.filename or "").replace("\\", "/")
        base = (server.recording_pbx_path or "/var/spool/asterisk/monitor").rstrip("/") + "/"
        if filename.startswith("/"):
            if not filename.startswith(base):
                raise UserError(_("%s is not in the PBX's recordings folder.", filename))
            filename = filename[len(base) :]
        relative = posixpath.normpath(filename)
        if not filename or relative.startswith(("..", "/")):
            raise UserError(_("Unsafe recording file name %r.", self.filename))
        return relative

    def _read_from(self, server):
        relative = self._relative_path(server)
        if server.recording_source == "folder":
            root = os.path.realpath(server.recording_folder or "")
            if not server.recording_folder or not os.path.isdir(root):
                raise UserError(_("The recordings folder %s is not mounted.", root))
            path = os.path.realpath(os.path.join(root, relative))
            if not path.startswith(root + os.sep):
                raise UserError(_("Unsafe recording file name %r.", self.filename))
            if not os.path.exists(path):
                raise UserError(_("%s is not there (yet).", path))
            if os.path.getsize(path) > MAX_SIZE:
                raise UserError(_("%s is too large.", path))
            with open(path, "rb") as f:
                return f.read()
        if server.recording_source == "http":
            url = (server.recording_url or "").format(
                path=quote(relative), filename=quote(posixpath.basename(relative))
            )
            auth = None
            if server.recording_http_user:
                auth = (server.recording_http_user, server.recording_http_password or "")
            response = requests.get(
                url, auth=auth, timeout=30, verify=server.recording_tls_verify, stream=True
            )
            if response.status_code != 200:
                raise UserError(_("HTTP %(code)s for %(url)s", code=response.status_code, url=url))
            data = response.raw.read(MAX_SIZE + 1, decode_content=True)
            if len(data) > MAX_SIZE:
                raise UserError(_("%s is too large.", url))
            return data
        raise UserError(_("No recording source is set on the server %s.", server.name))

    # -- retention --------------------------------------------------------------------

    @api.model
    def _cron_retention(self):
        days = self.env["asterisk_common.settings"].get("recording_retention_days")
        if not days:
            return
        old = self.search(
            [
                ("keep", "=", False),
                ("state", "!=", "deleted"),
                ("started_at", "<", fields.Datetime.now() - timedelta(days=days)),
            ]
        )
        old.attachment_id.sudo().unlink()
        old.sudo().write({"state": "deleted", "attachment_id": False})
        _logger.info("recordings older than %d days deleted: %d", days, len(old))
