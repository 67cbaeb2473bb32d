from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class BanPolicy(models.Model):
    """When failures from one address become a ban, per service."""

    _name = "asterisk_base.ban_policy"
    _description = "PBX Ban Policy"
    _order = "service, id"

    name = fields.Char(compute="_compute_name", store=True)
    service = fields.Char(
        help="The service of the security events, as Asterisk names it: SIP (chan_sip), "
        "PJSIP, IAX2, AMI... Empty: every service that has no policy of its own.",
    )
    active = fields.Boolean(default=True)
    max_failures = fields.Integer(
        string="Failures", default=10, required=True, help="Failures from one address..."
    )
    find_seconds = fields.Integer(
        string="Within (s)",
        default=60,
        required=True,
        help="...within this many seconds (counted in 10-second windows) ban the address.",
    )
    ban_seconds = fields.Integer(
        string="Ban For (s)", default=3600, required=True, help="Length of a first ban."
    )
    repeat_factor = fields.Float(
        string="Repeat Factor",
        default=4.0,
        help="Each new ban of an address banned before (within the repeat period) lasts "
        "this many times longer than its previous one.",
    )
    repeat_days = fields.Integer(
        string="Repeat Period (days)",
        default=30,
        help="Bans older than this are forgotten: the next ban is a first ban again.",
    )
    max_ban_seconds = fields.Integer(
        string="Longest Ban (s)", default=7 * 86400, help="Repeated bans last at most this."
    )
    permanent_after = fields.Integer(
        string="Permanent After",
        default=0,
        help="The nth ban of an address (within the repeat period) is permanent. 0: never.",
    )

    _sql_constraints = [
        ("service_unique", "UNIQUE (service)", "One policy per service."),
    ]

    @api.depends("service")
    def _compute_name(self):
        for rec in self:
            rec.name = rec.service or _("Any other service")

    @api.constrains("max_failures", "find_seconds", "ban_seconds", "repeat_factor")
    def _check_values(self):
        for rec in self:
            if rec.max_failures < 1 or rec.find_seconds < 10 or rec.ban_seconds < 60:
                raise ValidationError(
                    _("A policy needs at least 1 failure, a 10-second period and a 1-minute ban.")
                )
            if rec.repeat_factor < 1:
                raise ValidationError(_("A repeated ban cannot be shorter than the previous one."))

    @api.constrains("service", "active")
    def _check_one_default(self):
        if self.search_count([("service", "=", False)]) > 1:
            raise ValidationError(_("Only one policy can apply to any other service."))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("service"):
                vals["service"] = vals["service"].strip().upper()
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("service"):
            vals["service"] = vals["service"].strip().upper()
        return super().write(vals)

    @api.model
    def _by_service(self):
        """``({service: policy}, default policy or None)``, active policies only."""
        policies = self.search([])
        default = policies.filtered(lambda p: not p.service)[:1]
        return {p.service: p for p in policies if p.service}, default or None

    def _duration(self, offense):
        """Seconds of the ``offense``-th ban (1 for a first ban), or 0 for permanent."""
        self.ensure_one()
        if self.permanent_after and offense >= self.permanent_after:
            return 0
        seconds = self.ban_seconds * self.repeat_factor ** (offense - 1)
        if self.max_ban_seconds:
            seconds = min(seconds, self.max_ban_seconds)
        return int(seconds)
