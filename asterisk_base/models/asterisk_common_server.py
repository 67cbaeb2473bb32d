import hashlib
import logging
import secrets
import socket
import time
from datetime import timedelta

from odoo import _, fields, models
from odoo.exceptions import UserError

from ..tools import acl_rule, is_never_banned, network_of, update_config_actions

_logger = logging.getLogger(__name__)

ACL_FILE = "acl.conf"
LEARNED_MAX = 10  # addresses remembered per kind (PBX, Odoo)
RESOLVE_TTL = 300.0
# The ban policy asks for these on every batch of security events: DNS and the
# route probe are kept RESOLVE_TTL seconds per process.
_resolved = {}  # host -> (addresses, time.monotonic())
_probed = {}  # PBX host -> (Odoo's addresses, time.monotonic())


def _cached(store, key, compute):
    hit = store.get(key)
    if hit and time.monotonic() - hit[1] < RESOLVE_TTL:
        return hit[0]
    value = compute(key)
    store[key] = (value, time.monotonic())
    return value


def _lookup(host):
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return set()


def _resolve(host):
    """Addresses of ``host``, cached: the ban policy must not wait on DNS."""
    return _cached(_resolved, host, _lookup)


def _probe(pbx_host):
    found = set(_resolve(socket.gethostname()))
    for target in _resolve(pbx_host):
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))  # UDP: no packet is sent, the route is chosen
            except OSError:
                continue
            found.add(probe.getsockname()[0])
    return found


def _odoo_addresses(pbx_host):
    """This Odoo host's addresses: its name's, and those it reaches the PBX from."""
    return _cached(_probed, pbx_host, _probe)


class AsteriskServer(models.Model):
    _inherit = "asterisk_common.server"

    ban_acl = fields.Boolean(
        string="Push Bans to the PBX",
        default=True,
        help="Keep a named ACL of acl.conf on the PBX equal to the active bans (over AMI, "
        "UpdateConfig then 'reload acl'). Refer to it where it must apply: acl=odoo_bans in "
        "pjsip.conf's [acl] section (type=acl), sip.conf peers, manager.conf users.",
    )
    ban_acl_name = fields.Char(
        string="ACL Name",
        default="odoo_bans",
        required=True,
        help="The category of acl.conf that Odoo owns and rewrites.",
    )
    ban_acl_max = fields.Integer(
        string="ACL Size Limit",
        default=1000,
        help="Asterisk checks an ACL line by line for each request: past this many bans, "
        "the most recent ones go to the ACL and the feed (firewall) gets them all.",
    )
    # The push's outcome lives in asterisk_base.acl_push: the worker's health
    # reports rewrite the server's row every few seconds.
    ban_acl_state = fields.Selection(
        [("pending", "Pending"), ("done", "Up to Date"), ("failed", "Failed")],
        string="ACL Status",
        compute="_compute_ban_acl",
        groups="asterisk_common.group_asterisk_admin",
    )
    # Computed from admin-only models (with sudo for the ACL push): admins only.
    ban_acl_error = fields.Char(
        string="ACL Error",
        compute="_compute_ban_acl",
        groups="asterisk_common.group_asterisk_admin",
    )
    ban_acl_pushed_at = fields.Datetime(
        string="ACL Pushed At",
        compute="_compute_ban_acl",
        groups="asterisk_common.group_asterisk_admin",
    )
    ban_acl_entries = fields.Integer(
        string="ACL Entries",
        compute="_compute_ban_acl",
        groups="asterisk_common.group_asterisk_admin",
    )
    ban_feed_token = fields.Char(
        string="Feed Token",
        readonly=True,
        copy=False,
        groups="asterisk_common.group_asterisk_admin",
        help="The firewall's key to the feed of bans. Empty: the feed is off.",
    )
    ban_feed_url = fields.Char(string="Feed URL", compute="_compute_ban_feed_url")
    protection_pbx_addresses = fields.Char(
        string="PBX Addresses",
        readonly=True,
        copy=False,
        help="The PBX's own addresses, as its security events show them: never banned.",
        groups="asterisk_common.group_asterisk_admin",
    )
    protection_odoo_addresses = fields.Char(
        string="Odoo Addresses",
        readonly=True,
        copy=False,
        help="Addresses Odoo logged in to the AMI from, as the PBX sees them: never banned.",
        groups="asterisk_common.group_asterisk_admin",
    )
    # Counts of admin-only models: a PBX user's read() of a server must not fail on them.
    ban_count = fields.Integer(
        string="Active Bans",
        compute="_compute_ban_count",
        groups="asterisk_common.group_asterisk_admin",
    )
    conf_count = fields.Integer(
        string="Config Files",
        compute="_compute_conf_count",
        groups="asterisk_common.group_asterisk_admin",
    )

    def _compute_ban_feed_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for rec in self:
            rec.ban_feed_url = f"{base}/asterisk/bans/{rec.id}.txt" if rec.id else False

    def _compute_ban_acl(self):
        pushes = {
            push.server_id: push
            for push in self.env["asterisk_base.acl_push"]
            .sudo()
            .search([("server_id", "in", self.ids)])
        }
        for rec in self:
            push = pushes.get(rec)
            rec.ban_acl_state = push.state if push else "pending"
            rec.ban_acl_error = push.error if push else False
            rec.ban_acl_pushed_at = push.pushed_at if push else False
            rec.ban_acl_entries = push.entries if push else 0

    def _compute_ban_count(self):
        counts = dict(
            self.env["asterisk_base.ban"]._read_group(
                [("server_id", "in", self.ids), ("state", "=", "active")],
                ["server_id"],
                ["__count"],
            )
        )
        for rec in self:
            rec.ban_count = counts.get(rec, 0)

    def _compute_conf_count(self):
        counts = dict(
            self.env["asterisk_base.conf"]._read_group(
                [("server_id", "in", self.ids)], ["server_id"], ["__count"]
            )
        )
        for rec in self:
            rec.conf_count = counts.get(rec, 0)

    def write(self, vals):
        res = super().write(vals)
        if {"ban_acl", "ban_acl_name", "ban_acl_max"} & set(vals):
            self._protection_changed()
        return res

    # -- what is never banned ------------------------------------------------------------

    def _protection_learn(self, pbx_addresses, odoo_addresses):
        """Remember the PBX's and Odoo's own addresses seen in security events."""
        self.ensure_one()
        values = {}
        for field, seen in (
            ("protection_pbx_addresses", pbx_addresses),
            ("protection_odoo_addresses", odoo_addresses),
        ):
            known = (self[field] or "").split()
            new = [a for a in sorted(seen) if a not in known]
            if new:
                values[field] = " ".join((new + known)[:LEARNED_MAX])
        if values:
            self.write(values)

    def _protection_exempt_networks(self):
        """Networks never banned on this server (loopback is never banned anyway)."""
        self.ensure_one()
        networks = self.env["asterisk_base.whitelist"]._networks(self)
        own = set((self.protection_pbx_addresses or "").split())
        own |= set((self.protection_odoo_addresses or "").split())
        own |= _resolve(self.host) | _odoo_addresses(self.host)
        for address in own:
            try:
                networks.append(network_of(address))
            except ValueError:
                continue
        return networks

    def _protection_exempt_reason(self, address):
        """Why ``address`` may not be banned on this server, or None."""
        self.ensure_one()
        entry = self.env["asterisk_base.whitelist"]._covering(self, address)
        if entry:
            return _("it is whitelisted (%s)", entry.name or entry.network)
        if is_never_banned(address, []):
            return _("loopback and link-local addresses are never banned")
        if is_never_banned(address, self._protection_exempt_networks()):
            return _("it is an address of the PBX or of Odoo")
        return None

    # -- enforcement ---------------------------------------------------------------------

    def _protection_changed(self, at=None):
        """Bans changed: push them soon (the cron, triggered at commit)."""
        if self:
            self.env.ref("asterisk_base.cron_enforce_bans").sudo()._trigger(at)

    def _ban_acl_bans(self):
        """The bans the ACL holds: the ``ban_acl_max`` most recent; none once
        pushing is turned off (the ACL the PBX still has is emptied)."""
        if not self.ban_acl:
            return []
        return self.env["asterisk_base.ban"]._active_bans(self, limit=self.ban_acl_max)

    def _ban_acl_edits(self, bans, exists):
        """acl.conf edits that make the server's ACL the list of ``bans``."""
        self.ensure_one()
        name = self.ban_acl_name
        edits = [("DelCat", name)] if exists else []
        edits.append(("NewCat", name))
        # Last matching rule wins, allow by default: permit all, then the denies.
        # The permits also keep the ACL from being empty (an unknown ACL denies all).
        edits += [("Append", name, "permit", "0.0.0.0/0.0.0.0"), ("Append", name, "permit", "::/0")]
        edits += [("Append", name, "deny", acl_rule(ban["address"])) for ban in bans]
        return edits

    def _protection_push_acl(self, force=False):
        """Bring the PBX's ACL up to date (called by the cron). Errors are shown
        on the server, and the next run tries again."""
        Push = self.env["asterisk_base.acl_push"].sudo()
        for server in self.sudo():
            push = Push._of(server)
            bans = server._ban_acl_bans()
            digest = hashlib.sha256(
                "\n".join([server.ban_acl_name] + [b["address"] for b in bans]).encode()
            ).hexdigest()
            if digest == push.digest and push.state == "done" and not force:
                continue
            if server.state != "connected":
                push.write({"state": "pending", "error": _("The PBX is not connected.")})
                continue
            try:
                server._protection_upload_acl(bans)
            except UserError as e:
                _logger.warning("server %s: ACL not pushed: %s", server.name, e)
                push.write({"state": "failed", "error": str(e)})
                continue
            push.write(
                {
                    "state": "done",
                    "error": False,
                    "digest": digest,
                    "entries": len(bans),
                    "pushed_at": fields.Datetime.now(),
                }
            )
            _logger.info(
                "server %s: ACL %s pushed (%d)", server.name, server.ban_acl_name, len(bans)
            )

    def _protection_upload_acl(self, bans):
        self.ensure_one()
        reply = self._ami_reply(
            {"Action": "GetConfig", "Filename": ACL_FILE, "Category": self.ban_acl_name},
            expected_error="not found",
        )
        if reply is None:
            self._ami_reply({"Action": "CreateConfig", "Filename": ACL_FILE})
            exists = False
        else:
            exists = any(key.startswith("Category-") for key in reply)
        edits = self._ban_acl_edits(bans, exists)
        for action in update_config_actions(ACL_FILE, edits, reload="acl"):
            self._ami_reply(action)

    def _ami_reply(self, action, *, expected_error=None, timeout=10, subject=None):
        """The reply headers of ``action``, sent through the worker; None if it
        failed with ``expected_error`` (nobody is notified of that one); any
        other failure raises a UserError naming ``subject`` (a file, say)."""
        self.ensure_one()
        result = self.ami_action_sync(action, timeout=timeout, notify=not expected_error)
        if result["state"] == "done":
            return (result["reply"] or {}).get("response") or {}
        error = result["error"] or result["state"]
        if expected_error and expected_error in str(error).lower():
            return None
        message = _("%(action)s failed: %(error)s", action=action["Action"], error=error)
        raise UserError(f"{subject}: {message}" if subject else message)

    def _ami_resync(self, channels, snapshot_time=None):
        # A push that failed while the PBX was away goes now, or rather once the
        # worker's next health report says "connected" (every few seconds).
        res = super()._ami_resync(channels, snapshot_time=snapshot_time)
        if self.ban_acl and self.ban_acl_state != "done":
            self._protection_changed(at=fields.Datetime.now() + timedelta(seconds=5))
        return res

    # -- admin actions -------------------------------------------------------------------

    def action_generate_ban_token(self):
        for rec in self:
            rec.ban_feed_token = secrets.token_urlsafe(32)
        return True

    def action_revoke_ban_token(self):
        self.ban_feed_token = False
        return True

    def action_push_bans(self):
        # Sudo below: each push reloads the PBX's ACLs, for admins only.
        self.check_access("write")
        for rec in self:
            self.env["asterisk_base.acl_push"].sudo()._of(rec).state = "pending"
        self._protection_changed()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": _("The ACL will be pushed within seconds."),
            },
        }

    def action_view_bans(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "asterisk_base.asterisk_base_ban_action"
        )
        action["domain"] = [("server_id", "=", self.id)]
        action["context"] = {"default_server_id": self.id, "search_default_filter_active": 1}
        return action

    # -- web console ---------------------------------------------------------------------

    def console_run(self, command, confirmed=False):
        """Run an Asterisk CLI command (AMI ``Command``) for the web console."""
        return self.env["asterisk_base.console_command"]._run(self, command, confirmed)

    def console_complete(self, line):
        """Completions of the CLI ``line``'s last word, from the PBX."""
        return self.env["asterisk_base.console_command"]._complete(self, line)

    def action_open_console(self):
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "asterisk_base.console",
            "name": _("Console: %s", self.name),
            "params": {"server_id": self.id},
        }

    # -- config files --------------------------------------------------------------------

    def action_view_conf(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "asterisk_base.asterisk_base_conf_action"
        )
        action["domain"] = [("server_id", "=", self.id)]
        action["context"] = {"default_server_id": self.id}
        return action

    def action_conf_download_all(self):
        """Download every file the PBX's modules loaded, telling the admin as it goes."""
        self.ensure_one()
        self.env["asterisk_base.conf"].check_access("create")
        if self.state != "connected":
            raise UserError(_("%s is not connected: nothing can be read.", self.name))
        partner = self.env.user.partner_id

        def progress(done, total, name):
            # Its own transaction: the bus delivers at commit, and this one is long.
            with self.env.registry.cursor() as cr:
                self.env(cr=cr)["bus.bus"]._sendone(
                    partner,
                    "asterisk_base.conf_progress",
                    {"server": self.name, "done": done, "total": total, "file": name},
                )

        outcome = self.env["asterisk_base.conf"]._download_all(self, progress=progress)
        action = self.action_view_conf()
        if outcome["failed"]:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "type": "warning",
                    "sticky": True,
                    "message": "\n".join(outcome["failed"]),
                    "next": action,
                },
            }
        return action
