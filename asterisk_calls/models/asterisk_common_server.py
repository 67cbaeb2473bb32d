import logging

from odoo import _, fields, models

from ..tools import originate
from ..tools.dial import dial_string

_logger = logging.getLogger(__name__)


class AsteriskServer(models.Model):
    _inherit = "asterisk_common.server"

    live_call_count = fields.Integer(compute="_compute_live_call_count")
    parking_lots = fields.Char(
        readonly=True,
        copy=False,
        help="The PBX's parking lots, as the worker found them when it connected; empty: "
        "it has none (res_parking not loaded), and calls cannot be parked.",
    )
    originate_dialplan = fields.Boolean(
        string="Click-to-Dial Dialplan",
        readonly=True,
        copy=False,
        help="Whether the worker could add Odoo's odoo-originate context to the PBX's "
        "dialplan when it connected (DialplanExtensionAdd, write = system). With it, a "
        "click-to-dial rings exactly the user's devices marked for it, each with its "
        "auto-answer header (PJSIP too); without it, their extension rings them, and PJSIP "
        "phones get no auto-answer header.",
    )
    outside_prefix = fields.Char(
        string="Outside Line Prefix",
        help="Digits dialled before an outside number to get a line, e.g. 0 or 9 "
        "(empty when the dialplan needs none).",
    )
    dial_e164 = fields.Boolean(
        string="Dial in E.164",
        help="Dial outside numbers as +<country code><number> (trunks that take them so), "
        "instead of the way the server's country dials them (national prefix, 00...).",
    )
    originate_timeout = fields.Integer(
        string="Ring My Phone For (s)",
        default=30,
        help="Click-to-dial: seconds the user's phone rings before the attempt is given up.",
    )
    recording_source = fields.Selection(
        [
            ("none", "Not fetched"),
            ("folder", "A folder shared with the PBX"),
            ("http", "An HTTP(S) URL served by the PBX host"),
        ],
        default="none",
        required=True,
        help="Where Odoo reads the recordings Asterisk writes: its monitor folder mounted on "
        "the Odoo host (NFS, SMB), or a web server on the PBX host.",
    )
    recording_pbx_path = fields.Char(
        string="PBX Recordings Folder",
        default="/var/spool/asterisk/monitor",
        help="Where Asterisk writes recordings (its monitor folder).",
    )
    recording_folder = fields.Char(
        string="Mounted As",
        help="That folder as the Odoo host sees it, e.g. /mnt/pbx-monitor.",
    )
    recording_url = fields.Char(
        string="Recording URL",
        help="URL of a recording; {path} is its path under the PBX's recordings folder, "
        "{filename} its name, e.g. https://pbx.example.com/recordings/{path}",
    )
    recording_http_user = fields.Char(
        string="HTTP User", groups="asterisk_common.group_asterisk_admin"
    )
    recording_http_password = fields.Char(
        string="HTTP Password", groups="asterisk_common.group_asterisk_admin"
    )
    recording_tls_verify = fields.Boolean(string="Verify the Certificate", default=True)
    record_queues = fields.Char(
        string="Record Queues",
        help="Comma-separated queues whose calls are all recorded, e.g. support,sales.",
    )
    originate_callerid = fields.Char(
        string="Click-to-Dial Caller ID",
        default="Call to {name}",
        help="What the user's phone shows while it rings for a click-to-dial call: {name} is "
        "the contact (or the number), {number} the number dialled.",
    )

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

    def _ami_probe_actions(self):
        return (
            super()._ami_probe_actions()
            + [{"Action": "Parkinglots"}]
            + originate.dialplan_actions()
        )

    def _ami_probed(self, replies):
        """Park is offered only where the PBX parks calls: res_parking loaded
        (else "Invalid/unknown command: Parkinglots") with a lot."""
        super()._ami_probed(replies)
        self._probed_dialplan(replies)
        reply = next((r for r in replies if r.get("action") == "Parkinglots"), None)
        if reply is None:
            return
        lots = [
            e for e in reply.get("events") or [] if e.get("Event") == "Parkinglot" and e.get("Name")
        ]
        value = ", ".join(
            f"{e['Name']} ({e.get('StartSpace', '?')}-{e.get('StopSpace', '?')})" for e in lots
        )
        if value != (self.parking_lots or ""):
            # Like the health report: no write_date, which the worker watches.
            self._worker_health(self.id, {"parking_lots": value or None})
            self.modified(["parking_lots"])  # the calls' can_park

    def _probed_dialplan(self, replies):
        """Whether the odoo-originate context went in; why not, in the log."""
        added = [r for r in replies if r.get("action") == "DialplanExtensionAdd"]
        if not added:
            return
        failed = next((r for r in added if not r.get("ok")), None)
        if failed:
            _logger.warning(
                "%s: Odoo's click-to-dial dialplan could not be added (%s): several devices "
                "of one user ring through their extension",
                self.name,
                failed.get("error") or (failed.get("response") or {}).get("Message"),
            )
        if self.originate_dialplan != (not failed):
            self._worker_health(self.id, {"originate_dialplan": not failed})
            self.invalidate_recordset(["originate_dialplan"])

    def action_view_live_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.call_action_live")
        action.update(
            domain=[("server_id", "=", self.id), ("is_live", "=", True)],
            name=_("Calls in progress on %s", self.name),
            context={},
        )
        return action

    def _dial_string(self, number, region=None):
        """What this PBX dials for ``number`` (see :func:`..tools.dial.dial_string`)."""
        self.ensure_one()
        server = self.sudo()
        return dial_string(
            number,
            region or server._region(),
            outside_prefix=server.outside_prefix or "",
            e164=server.dial_e164,
            internal_max_digits=self.env["asterisk_common.settings"].get("internal_max_digits"),
        )
