from odoo import fields, models


class AsteriskChannel(models.Model):
    """One Asterisk channel (``Uniqueid``) of a call: a device's leg or
    ``Local`` plumbing, with what Asterisk said about it."""

    _name = "asterisk_calls.channel"
    _description = "Call Channel"
    _order = "started_at, id"
    _log_access = False

    call_id = fields.Many2one("asterisk_calls.call", index=True, ondelete="cascade", readonly=True)
    server_id = fields.Many2one(
        "asterisk_common.server", required=True, ondelete="cascade", readonly=True
    )
    uniqueid = fields.Char(string="Uniqueid", required=True, index=True, readonly=True)
    linkedid = fields.Char(string="Linkedid", index=True, readonly=True)
    name = fields.Char(string="Channel", readonly=True)
    device = fields.Char(readonly=True, help="The channel's device, e.g. SIP/alice.")
    is_local = fields.Boolean(string="Local Channel", readonly=True)
    pbx_user_id = fields.Many2one("asterisk_common.user", string="PBX User", readonly=True)
    user_id = fields.Many2one("res.users", string="User", readonly=True)
    state = fields.Char(readonly=True)
    caller_number = fields.Char(string="CallerID Number", readonly=True)
    caller_name = fields.Char(string="CallerID Name", readonly=True)
    connected_number = fields.Char(string="Connected Line Number", readonly=True)
    connected_name = fields.Char(string="Connected Line Name", readonly=True)
    context = fields.Char(readonly=True)
    exten = fields.Char(string="Extension", readonly=True)
    dialed_by = fields.Char(readonly=True, help="Uniqueid of the channel that dialled this one.")
    dial_status = fields.Char(readonly=True)
    dial_string = fields.Char(readonly=True)
    started_at = fields.Datetime(readonly=True)
    answered_at = fields.Datetime(readonly=True)
    ended_at = fields.Datetime(readonly=True)
    hangup_cause = fields.Integer(string="Hangup Cause Code", readonly=True)
    hangup_cause_txt = fields.Char(string="Hangup Cause", readonly=True)
    bridge = fields.Char(readonly=True)
    bridge_exten = fields.Char(readonly=True)
    cdr = fields.Json(
        string="CDRs",
        readonly=True,
        help="Asterisk's CDRs of this channel: one per party it dialled.",
    )
    cdr_disposition = fields.Char(string="CDR Disposition", readonly=True)
    cdr_duration = fields.Integer(string="CDR Duration", readonly=True)
    cdr_billsec = fields.Integer(string="CDR Billable Seconds", readonly=True)
    cdr_text = fields.Text(string="CDR Record", compute="_compute_cdr_text")

    _sql_constraints = [
        ("uniqueid_uniq", "unique(server_id, uniqueid)", "One channel per Uniqueid and server."),
    ]

    def init(self):
        super().init()
        self.env.cr.execute(f'ALTER TABLE "{self._table}" SET (fillfactor = 70)')

    def _compute_cdr_text(self):
        for chan in self:
            chan.cdr_text = "\n\n".join(
                "\n".join(f"{key}: {value}" for key, value in cdr.items()) for cdr in chan.cdr or []
            )
