import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import _, api, fields, models

_logger = logging.getLogger(__name__)


class TargetedAccount(models.Model):
    """An account that many addresses try: distributed password guessing,
    which no per-address ban stops. Told to the PBX admins."""

    _name = "asterisk_base.targeted_account"
    _description = "PBX Account Under Attack"
    _inherit = ["mail.thread"]
    _order = "last_seen desc, id desc"
    _rec_name = "account"

    server_id = fields.Many2one(
        "asterisk_common.server", required=True, index=True, ondelete="cascade", readonly=True
    )
    service = fields.Char(readonly=True)
    account = fields.Char(readonly=True, help="The account name the requests used.")
    address_count = fields.Integer(
        string="Addresses",
        readonly=True,
        help="Distinct addresses that failed on this account "
        "within the detection period (the highest count seen).",
    )
    failures = fields.Integer(readonly=True, help="Failures within the detection period.")
    first_seen = fields.Datetime(readonly=True)
    last_seen = fields.Datetime(readonly=True)
    state = fields.Selection(
        [("new", "New"), ("acknowledged", "Acknowledged")], default="new", tracking=True
    )

    def action_acknowledge(self):
        self.write({"state": "acknowledged"})
        return True

    @api.model
    def _check(self, server, accounts, now):
        """Flag the accounts of ``accounts`` (``{service: accounts}``) that
        failed from too many addresses in the detection period."""
        settings = self.env["asterisk_common.settings"]
        threshold = settings.get("distributed_addresses")
        if threshold <= 0 or not accounts:
            return
        since = now - timedelta(minutes=settings.get("distributed_minutes"))
        flagged = []
        for service, names in accounts.items():
            self.env.cr.execute(
                """SELECT account, count(DISTINCT address), sum(count), min(first_at)
                     FROM asterisk_base_security_event
                    WHERE server_id = %s AND failure AND service = %s AND account = ANY(%s)
                      AND window_start >= %s AND address != ''
                 GROUP BY account HAVING count(DISTINCT address) >= %s""",
                [server.id, service, sorted(names), since, threshold],
            )
            for account, addresses, failures, first in self.env.cr.fetchall():
                alert = self.search(
                    [
                        ("server_id", "=", server.id),
                        ("service", "=", service),
                        ("account", "=", account),
                        ("state", "=", "new"),
                    ],  # fmt: skip
                    limit=1,
                )
                values = {"failures": failures, "last_seen": now}
                if alert:
                    values["address_count"] = max(alert.address_count, addresses)
                    alert.write(values)
                    continue
                values.update(
                    server_id=server.id,
                    service=service,
                    account=account,
                    address_count=addresses,
                    first_seen=first,
                )
                flagged.append(values)
        if flagged:
            self.with_context(tracking_disable=True).create(flagged)._announce()

    def _announce(self):
        if not self.env["asterisk_common.settings"].get("notify_bans"):
            partners = self.env["res.partner"]
        else:
            partners = (
                self.env.ref("asterisk_common.group_asterisk_admin")
                .users.filtered(lambda u: not u.share)
                .partner_id
            )
        for alert in self:
            _logger.warning(
                "server %s: %s account %r tried from %d addresses",
                alert.server_id.name,
                alert.service,
                alert.account,
                alert.address_count,
            )
            if partners:
                alert.message_notify(
                    partner_ids=partners.ids,
                    subject=_("PBX: account %s under attack", alert.account),
                    body=Markup("<p>%s</p>")
                    % _(
                        "%(service)s account %(account)s failed from %(count)s different "
                        "addresses on %(server)s: its password is being guessed from many "
                        "places, which bans of single addresses do not stop. Check that its "
                        "password is strong, or restrict where it may register from.",
                        service=alert.service,
                        account=alert.account,
                        count=alert.address_count,
                        server=alert.server_id.name,
                    ),
                    email_layout_xmlid="mail.mail_notification_light",
                )
