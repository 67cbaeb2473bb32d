import collections
import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..tools import (
    ban_key,
    checked_network,
    covered_by,
    is_never_banned,
    network_of,
    normalize_network,
)
from .asterisk_base_security_event import OTHER_ACCOUNTS, WINDOW

_logger = logging.getLogger(__name__)

STATES = [("active", "Active"), ("expired", "Expired"), ("lifted", "Lifted")]
# A flood bans hundreds of addresses at once: one notice lists at most this many.
NOTICE_LIST = 20


def _sort_key(address):
    network = network_of(address)
    return network.version, network


class Ban(models.Model):
    """An address (or network) the PBX refuses: decided by the ban policy from
    security events, or by an admin (the blacklist: permanent bans)."""

    _name = "asterisk_base.ban"
    _description = "PBX Ban"
    _inherit = ["mail.thread"]
    _order = "banned_at desc, id desc"
    _rec_name = "address"

    server_id = fields.Many2one(
        "asterisk_common.server", required=True, index=True, ondelete="cascade", tracking=True
    )
    address = fields.Char(
        required=True,
        index=True,
        tracking=True,
        help="An IPv4 or IPv6 address, or a network in CIDR notation (203.0.113.0/24).",
    )
    state = fields.Selection(STATES, default="active", required=True, tracking=True, copy=False)
    permanent = fields.Boolean(
        tracking=True, help="Never expires: the address is blacklisted until an admin lifts it."
    )
    banned_at = fields.Datetime(default=fields.Datetime.now, required=True, readonly=True)
    expires_at = fields.Datetime(tracking=True, help="Empty for a permanent ban.")
    origin = fields.Selection(
        [("policy", "Ban Policy"), ("manual", "Administrator")],
        default="manual",
        required=True,
        readonly=True,
    )
    policy_id = fields.Many2one("asterisk_base.ban_policy", readonly=True, ondelete="set null")
    service = fields.Char(readonly=True)
    accounts = fields.Char(readonly=True, help="Accounts the address tried (attacker-chosen text).")
    failures = fields.Integer(readonly=True, help="Failures counted when the ban was decided.")
    offense = fields.Integer(
        default=1, readonly=True, help="1 for a first ban; repeated bans last longer."
    )
    reason = fields.Char()
    lifted_by_id = fields.Many2one("res.users", readonly=True, copy=False)
    lifted_at = fields.Datetime(readonly=True, copy=False)

    def init(self):
        # One active ban per address and server: the policy and admins race safely.
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS asterisk_base_ban_active_address_uniq
                   ON asterisk_base_ban (server_id, address) WHERE state = 'active'"""
        )

    # -- validation ------------------------------------------------------------------

    @api.model
    def _normalize_vals(self, vals):
        if vals.get("address"):
            vals["address"] = checked_network(vals["address"])
        if vals.get("permanent"):
            vals["expires_at"] = False
        return vals

    @api.constrains("address", "state", "server_id")
    def _check_not_exempt(self):
        for rec in self.filtered(lambda b: b.state == "active"):
            reason = rec.server_id._protection_exempt_reason(rec.address)
            if reason:
                raise ValidationError(
                    _(
                        "%(address)s cannot be banned: %(reason)s",
                        address=rec.address,
                        reason=reason,
                    )
                )

    @api.constrains("state", "permanent", "expires_at")
    def _check_expiry(self):
        for rec in self:
            if rec.state == "active" and not rec.permanent and not rec.expires_at:
                raise ValidationError(_("A ban that is not permanent needs an expiry."))

    # -- changes are pushed to the PBX ----------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._normalize_vals(vals)
            if vals.get("state", "active") == "active" and not vals.get("permanent"):
                vals.setdefault("expires_at", fields.Datetime.now() + timedelta(days=1))
        bans = super().create(vals_list)
        bans._changed()
        return bans

    def write(self, vals):
        res = super().write(self._normalize_vals(vals))
        if {"address", "state", "permanent", "expires_at", "server_id"} & set(vals):
            self._changed()
        return res

    def unlink(self):
        servers = self.server_id
        res = super().unlink()
        servers._protection_changed()
        return res

    def _changed(self):
        self.server_id._protection_changed()

    # -- admin actions ----------------------------------------------------------------

    def action_lift(self):
        self.filtered(lambda b: b.state == "active").write(
            {"state": "lifted", "lifted_by_id": self.env.uid, "lifted_at": fields.Datetime.now()}
        )
        return True

    def action_make_permanent(self):
        for rec in self:
            if rec.state != "active":
                rec._check_not_banned_again()
        self.write({"permanent": True, "expires_at": False, "state": "active"})
        return True

    def action_whitelist(self):
        """Trust the addresses for good: whitelisted, and lifted now."""
        Whitelist = self.env["asterisk_base.whitelist"]
        for rec in self:
            if not Whitelist._covering(rec.server_id, rec.address):
                Whitelist.create(
                    {
                        "network": rec.address,
                        "server_id": rec.server_id.id,
                        "name": _("Whitelisted from ban %s", rec.address),
                    }
                )
        return self.action_lift()

    def _check_not_banned_again(self):
        if self.search_count(
            [
                ("server_id", "=", self.server_id.id),
                ("address", "=", self.address),
                ("state", "=", "active"),
                ("id", "!=", self.id),
            ]  # fmt: skip
        ):
            raise ValidationError(_("%s is already banned.", self.address))

    def _open(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "asterisk_base.asterisk_base_ban_action"
        )
        if len(self) == 1:
            action.update({"res_id": self.id, "view_mode": "form", "views": [(False, "form")]})
        else:
            action.update({"domain": [("id", "in", self.ids)], "context": {}})
        return action

    @api.model
    def _ban_manually(self, pairs, reason=None):
        """Ban ``[(server id, address)]`` for good; active bans become permanent."""
        bans = self.browse()
        for server_id, address in pairs:
            address = normalize_network(address)
            ban = self.search(
                [("server_id", "=", server_id), ("address", "=", address), ("state", "=", "active")]
            )
            if ban:
                ban.write({"permanent": True})
            else:
                ban = self.create(
                    {
                        "server_id": server_id,
                        "address": address,
                        "permanent": True,
                        "reason": reason or _("Banned by %s", self.env.user.name),
                    }
                )
            bans |= ban
        return bans

    # -- the policy (called by the security events' handler) ------------------------

    @api.model
    def _apply_policy(self, server, failed, now):
        """Ban the addresses of ``failed`` (``{address: services}``) that went
        past their service's policy, as of ``now`` (naive UTC)."""
        policies, default = self.env["asterisk_base.ban_policy"]._by_service()
        exempt = server._protection_exempt_networks()
        candidates = [a for a in failed if not is_never_banned(a, exempt)]
        all_policies = list(policies.values()) + ([default] if default else [])
        if not candidates or not all_policies:
            return self.browse()
        # What is counted and banned: an address, or an IPv6 network.
        prefix = self.env["asterisk_common.settings"].get("ipv6_ban_prefix")
        keys = {a: ban_key(a, prefix, exempt) for a in candidates}
        services = collections.defaultdict(set)
        for address, key in keys.items():
            services[key] |= failed[address]
        networks = sorted({k for k in keys.values() if "/" in k})
        covered = SQL("address = ANY(%s)", candidates)
        if networks:
            # The other addresses of those networks count too (earlier batches).
            covered = SQL(
                "(%s OR (strpos(address, ':') > 0 AND address::inet <<= ANY(%s::cidr[])))",
                covered,
                networks,
            )
        longest = max(p.find_seconds for p in all_policies)
        self.env.cr.execute(
            SQL(
                """SELECT address, service, window_start, account, sum(count)
                     FROM asterisk_base_security_event
                    WHERE server_id = %s AND failure AND %s AND window_start > %s
                 GROUP BY address, service, window_start, account""",
                server.id,
                covered,
                now - timedelta(seconds=longest + WINDOW),
            )
        )
        totals = collections.Counter()  # (key, policy id) -> failures
        accounts = collections.defaultdict(set)
        for address, service, window_start, account, count in self.env.cr.fetchall():
            policy = policies.get(service) or default
            if policy is None:
                continue
            # The window holding (now - T) still counts: T is met to 10 s.
            if window_start + timedelta(seconds=WINDOW) > now - timedelta(
                seconds=policy.find_seconds
            ):
                key = keys.get(address) or ban_key(address, prefix, exempt)
                totals[key, policy.id] += count
                if account:
                    accounts[key].add(account)
        by_id = {p.id: p for p in all_policies}
        over = {}
        for (address, policy_id), count in totals.items():
            policy = by_id[policy_id]
            if count >= policy.max_failures and (
                address not in over or policy.ban_seconds > over[address][0].ban_seconds
            ):
                over[address] = (policy, count)
        if not over:
            return self.browse()
        self.flush_model()
        banned = self._banned(server, list(over))
        over = {a: v for a, v in over.items() if a not in banned}
        if not over:
            return self.browse()
        offenses = self._offenses(server, over, now)
        vals_list = []
        for address in sorted(over):
            policy, count = over[address]
            offense = offenses.get(address, 0) + 1
            seconds = policy._duration(offense)
            tried = sorted(accounts[address] - {OTHER_ACCOUNTS})
            vals_list.append(
                {
                    "server_id": server.id,
                    "address": address,
                    "origin": "policy",
                    "policy_id": policy.id,
                    "service": policy.service or ", ".join(sorted(services[address])),
                    "accounts": ", ".join(tried)[:250],
                    "failures": count,
                    "offense": offense,
                    "banned_at": now,
                    "permanent": not seconds,
                    "expires_at": now + timedelta(seconds=seconds) if seconds else False,
                    "reason": _(
                        "%(count)s failures in %(seconds)s s (policy %(policy)s)",
                        count=count,
                        seconds=policy.find_seconds,
                        policy=policy.name,
                    ),
                }
            )
        bans = self.with_context(tracking_disable=True).create(vals_list)
        _logger.info(
            "server %s: banned %s", server.name, ", ".join(bans.mapped("address")[:NOTICE_LIST])
        )
        bans._announce()
        return bans

    @api.model
    def _banned(self, server, addresses):
        """Those of ``addresses`` an active ban already covers."""
        self.env.cr.execute(
            "SELECT address FROM asterisk_base_ban WHERE server_id = %s AND state = 'active' "
            "AND (address = ANY(%s) OR address LIKE '%%/%%')",
            [server.id, addresses],
        )
        exact, networks = set(), []
        for (address,) in self.env.cr.fetchall():
            if "/" in address:
                networks.append(network_of(address))
            else:
                exact.add(address)
        return {a for a in addresses if a in exact or covered_by(a, networks)}

    @api.model
    def _offenses(self, server, over, now):
        """Earlier bans of each address, within its policy's repeat period."""
        longest = max(policy.repeat_days for policy, _count in over.values())
        self.env.cr.execute(
            "SELECT address, banned_at FROM asterisk_base_ban WHERE server_id = %s "
            "AND address = ANY(%s) AND banned_at > %s",
            [server.id, list(over), now - timedelta(days=longest)],
        )
        counts = collections.Counter()
        for address, banned_at in self.env.cr.fetchall():
            if banned_at > now - timedelta(days=over[address][0].repeat_days):
                counts[address] += 1
        return counts

    def _announce(self):
        """Tell the PBX admins (inbox, or email as each one chose)."""
        if not self or not self.env["asterisk_common.settings"].get("notify_bans"):
            return
        partners = (
            self.env.ref("asterisk_common.group_asterisk_admin")
            .users.filtered(lambda u: not u.share)
            .partner_id
        )
        if not partners:
            return
        items = Markup("").join(
            Markup("<li>%s — %s</li>") % (ban.address, ban.reason or "")
            for ban in self[:NOTICE_LIST]
        )
        more = len(self) - NOTICE_LIST
        body = Markup("<p>%s</p><ul>%s</ul>") % (
            _(
                "%(count)s address(es) banned on %(server)s:",
                count=len(self),
                server=self[0].server_id.name,
            ),
            items,
        )
        if more > 0:
            body += Markup("<p>%s</p>") % _("...and %s more.", more)
        self[0].message_notify(
            partner_ids=partners.ids,
            subject=_("PBX: %(address)s banned", address=self[0].address)
            if len(self) == 1
            else _("PBX: %(count)s addresses banned", count=len(self)),
            body=body,
            email_layout_xmlid="mail.mail_notification_light",
        )

    # -- enforcement -------------------------------------------------------------------

    @api.model
    def _cron_enforce(self):
        """Expire what is due, then bring each PBX's ACL up to date."""
        due = self.search(
            [
                ("state", "=", "active"),
                ("permanent", "=", False),
                ("expires_at", "<=", fields.Datetime.now()),
            ]  # fmt: skip
        )
        if due:
            due.write({"state": "expired"})
            _logger.info("%d bans expired", len(due))
        servers = self.env["asterisk_common.server"].search([("ban_acl", "=", True)])
        # Turned off with denies still on the PBX: they are taken away once.
        left = self.env["asterisk_base.acl_push"].sudo().search([("entries", ">", 0)])
        servers |= left.server_id.filtered("active")
        for server in servers:
            server._protection_push_acl()

    @api.model
    def _active_bans(self, server, limit=None):
        """What ``server`` must refuse now, sorted by address: dicts of
        ``address``, ``permanent``, ``expires_at``; the ``limit`` most recent."""
        self.flush_model()
        self.env.cr.execute(
            """SELECT address, permanent, expires_at FROM asterisk_base_ban
                WHERE server_id = %s AND state = 'active'
                  AND (permanent OR expires_at > now() at time zone 'UTC')
             ORDER BY banned_at DESC, id DESC LIMIT %s""",
            [server.id, limit or None],
        )
        rows = self.env.cr.dictfetchall()
        return sorted(rows, key=lambda row: _sort_key(row["address"]))
