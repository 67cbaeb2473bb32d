import re

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..tools import ami_handler

# "TECH/resource" as Asterisk names a device: SIP/101, PJSIP/alice, IAX2/trunk,
# Local/100@from-internal. No spaces, no dash-suffix of a live channel, nothing
# that separates the arguments of Dial and of its options (",&^()|;").
CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s/,;|&^()]+(@[A-Za-z0-9_.-]+)?$")
# What a PBX user may change on their own record.
SELF_WRITABLE_FIELDS = {"popup_incoming", "popup_sticky", "open_partner_form"}


class AsteriskUser(models.Model):
    _name = "asterisk_common.user"
    _description = "PBX User"
    _order = "server_id, extension"
    _rec_names_search = ["user_id", "extension"]

    user_id = fields.Many2one(
        "res.users",
        required=True,
        ondelete="cascade",
        index=True,
        domain=[("share", "=", False)],
        help="The internal Odoo user who answers this extension.",
    )
    server_id = fields.Many2one(
        "asterisk_common.server", required=True, ondelete="restrict", index=True
    )
    extension = fields.Char(
        required=True, help="The number other users dial to reach this user, e.g. 101."
    )
    channel_ids = fields.One2many(
        "asterisk_common.user_channel",
        "pbx_user_id",
        string="Channels",
        help="The devices of this user. Their calls pop up for the user; click-to-dial "
        "rings the ones marked Originate.",
    )
    originate_context = fields.Char(
        default="from-internal",
        required=True,
        help="Dialplan context in which click-to-dial calls the dialled number.",
    )
    popup_incoming = fields.Boolean(
        string="Incoming Call Popup", default=True, help="Show a popup when a call rings."
    )
    popup_sticky = fields.Boolean(
        string="Keep Popup Open", help="The popup stays until it is closed."
    )
    open_partner_form = fields.Boolean(
        string="Open Caller's Contact", help="Open the caller's contact form on answer."
    )
    active = fields.Boolean(related="user_id.active", store=True)
    name = fields.Char(compute="_compute_name", store=True)

    _sql_constraints = [
        (
            "extension_server_uniq",
            "unique(extension, server_id)",
            "This extension is already used on this server.",
        ),
        (
            "user_server_uniq",
            "unique(user_id, server_id)",
            "This user already has an extension on this server.",
        ),
    ]

    @api.depends("user_id.name", "extension")
    def _compute_name(self):
        for rec in self:
            rec.name = f"{rec.user_id.name or ''} ({rec.extension or ''})"

    @api.constrains("user_id")
    def _check_internal_user(self):
        for rec in self:
            if rec.user_id.share:
                raise ValidationError(_("%s is not an internal user.", rec.user_id.name))

    @api.constrains("extension")
    def _check_extension(self):
        for rec in self:
            if not re.fullmatch(r"[0-9A-Za-z*#+_.-]{1,40}", rec.extension or ""):
                raise ValidationError(
                    _("Extension %s may hold only digits, letters and * # + _ . -", rec.extension)
                )

    def write(self, vals):
        if (
            not self.env.su
            and not self.env.user.has_group("asterisk_common.group_asterisk_admin")
            and set(vals) - SELF_WRITABLE_FIELDS
        ):
            raise AccessError(_("Only PBX administrators can change extensions and channels."))
        return super().write(vals)

    @ami_handler
    def ami_originate_response(self, event):
        """OriginateResponse: tell the user who clicked to dial that it failed."""
        self.env["asterisk_common.action"]._ami_originate_response(event)


class AsteriskUserChannel(models.Model):
    _name = "asterisk_common.user_channel"
    _description = "PBX User Channel"
    _order = "sequence, id"

    name = fields.Char(
        string="Channel",
        required=True,
        help="Device as Asterisk names it, TECH/resource: SIP/101, PJSIP/alice.",
    )
    pbx_user_id = fields.Many2one(
        "asterisk_common.user", required=True, ondelete="cascade", index=True
    )
    server_id = fields.Many2one(related="pbx_user_id.server_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    originate = fields.Boolean(
        default=True, help="Ring this device when the user clicks a number to dial it."
    )
    auto_answer = fields.Boolean(
        help="Ask the phone to answer click-to-dial calls by itself (Alert-Info / "
        "Call-Info headers). When several devices ring for click-to-dial, each gets "
        "its own header through Odoo's dialplan on the PBX; without it (through the "
        "user's extension), only if all of them are SIP/ devices that want the same one."
    )

    _sql_constraints = [
        (
            "channel_server_uniq",
            "unique(name, server_id)",
            "This channel already belongs to a PBX user of this server.",
        )
    ]

    @api.constrains("name")
    def _check_name(self):
        for rec in self:
            if not CHANNEL_RE.fullmatch(rec.name or ""):
                raise ValidationError(
                    _(
                        "Channel %s must be written TECH/resource, e.g. SIP/101 or PJSIP/alice.",
                        rec.name,
                    )
                )
