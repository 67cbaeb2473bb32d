from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    asterisk_lookup_suffix_digits = fields.Integer(
        string="Match Last Digits",
        config_parameter="asterisk_calls.lookup_suffix_digits",
        help="When no contact has a caller's number exactly, match the contact whose number "
        "ends with the same digits (numbers dialled without their prefixes). 0 turns it off.",
    )
    asterisk_internal_max_digits = fields.Integer(
        string="Internal Numbers Up To (digits)",
        config_parameter="asterisk_calls.internal_max_digits",
        help="Numbers with at most this many digits are extensions of the PBX, not outside "
        "numbers: a call between them is internal.",
    )
    asterisk_create_unknown_partner = fields.Boolean(
        string="Create Contacts for Unknown Callers",
        config_parameter="asterisk_calls.create_unknown_partner",
        help="After an incoming call from a number no contact has, create a contact for it.",
    )
    asterisk_missed_call_activity = fields.Boolean(
        string="To-Do for Missed Calls",
        config_parameter="asterisk_calls.missed_call_activity",
        help="Each user whose phone rang for a call nobody answered gets a 'Call back' to-do.",
    )
    asterisk_log_calls = fields.Boolean(
        string="Log Calls in the Chatter",
        config_parameter="asterisk_calls.log_calls",
        help="Log each finished call in its contact's chatter (and its lead's, its "
        "employee's when those apps are installed).",
    )
    asterisk_call_retention_days = fields.Integer(
        string="Keep Calls (days)",
        config_parameter="asterisk_calls.call_retention_days",
        help="Calls older than this are archived or deleted every night. 0 keeps them all.",
    )
    asterisk_call_retention_action = fields.Selection(
        [("archive", "Archive"), ("delete", "Delete")],
        string="Old Calls Are",
        config_parameter="asterisk_calls.call_retention_action",
        default="archive",
    )
    asterisk_recording_retention_days = fields.Integer(
        string="Keep Recordings (days)",
        config_parameter="asterisk_calls.recording_retention_days",
        help="Recordings older than this are deleted every night, unless marked Keep "
        "(0: keep them all).",
    )
