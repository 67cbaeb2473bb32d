import ipaddress

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..tools.ami_probe import CLASSES, REQUIREMENTS, probe, route_address

ADMIN_GROUP = "asterisk_common.group_asterisk_admin"
LEVELS = [("ok", "OK"), ("info", "Info"), ("warning", "Warning"), ("error", "Error")]
LEVEL_RANK = {"ok": 0, "info": 0, "warning": 1, "error": 2}
SYMBOL = {"ok": "✔", "info": "i", "warning": "!", "error": "✘"}


class AsteriskServerWizard(models.TransientModel):
    _name = "asterisk_base.server_wizard"
    _description = "Asterisk Server Onboarding"

    server_id = fields.Many2one(
        "asterisk_common.server",
        string="Server",
        help="The server this wizard updates; empty: it creates one.",
    )
    name = fields.Char(help="The new server's name (default: the host).")
    host = fields.Char(required=True, default="127.0.0.1")
    port = fields.Integer(required=True, default=5038)
    username = fields.Char(string="AMI Username", required=True, default="odoo")
    secret = fields.Char(
        string="AMI Secret",
        help="Leave empty to keep (and test) the server's current secret.",
    )
    md5_login = fields.Boolean(string="MD5 Login", default=True)
    tls = fields.Boolean(string="TLS")
    tls_verify = fields.Boolean(string="Verify Certificate", default=True)
    timeout = fields.Float(string="Timeout (seconds)", default=5.0)

    tested = fields.Boolean(readonly=True)
    result = fields.Selection(LEVELS, readonly=True)
    check_ids = fields.One2many(
        "asterisk_base.server_wizard_check", "wizard_id", string="Checks", readonly=True
    )
    asterisk_version = fields.Char(readonly=True)
    ami_version = fields.Char(string="AMI Version", readonly=True)
    driver = fields.Char(string="Channel Driver", readonly=True)
    odoo_address = fields.Char(
        readonly=True, help="The address this Odoo host connects to the PBX from."
    )
    manager_conf = fields.Text(string="manager.conf", readonly=True)
    report = fields.Text(readonly=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        server_id = values.get("server_id")
        if not server_id and self.env.context.get("active_model") == "asterisk_common.server":
            server_id = self.env.context.get("active_id")
        server = self.env["asterisk_common.server"].browse(server_id).exists()
        if server:
            values.update(
                server_id=server.id,
                name=server.name,
                host=server.host,
                port=server.port,
                username=server.username,
                md5_login=server.md5_login,
                tls=server.tls,
                tls_verify=server.tls_verify,
                timeout=server.connect_timeout,
            )
        return values

    def _check_admin(self):
        # The probe opens a connection from the Odoo host to any address: admins only.
        if not self.env.user.has_group(ADMIN_GROUP):
            raise AccessError(_("Only PBX administrators can onboard Asterisk servers."))

    def _effective_secret(self):
        return self.secret or (self.server_id.sudo().secret if self.server_id else "") or ""

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": _("Server Onboarding"),
        }

    # -- test ----------------------------------------------------------------------------

    def action_test(self):
        self.ensure_one()
        self._check_admin()
        if not 0 < self.port < 65536:
            raise UserError(_("The AMI port must be 1-65535."))
        found = probe(
            self.host.strip(),
            self.port,
            self.username.strip(),
            self._effective_secret(),
            md5=self.md5_login,
            tls=self.tls,
            tls_verify=self.tls_verify,
            timeout=max(1.0, min(self.timeout or 5.0, 30.0)),
        )
        checks = self._checks(found)
        worst = max((c["level"] for c in checks), key=LEVEL_RANK.get, default="ok")
        address = found.local_address or route_address(self.host.strip(), self.port)
        self.check_ids.unlink()
        self.write(
            {
                "tested": True,
                "result": worst,
                "check_ids": [
                    fields.Command.create(dict(check, sequence=i)) for i, check in enumerate(checks)
                ],
                "asterisk_version": found.asterisk_version or False,
                "ami_version": found.ami_version or False,
                "driver": self._driver_label(found),
                "odoo_address": address or False,
                "manager_conf": self._manager_conf(address),
                "report": "\n".join(
                    f"{SYMBOL[c['level']]} {c['name']}: {c['message']}" for c in checks
                ),
            }
        )
        return self._reopen()

    def _driver_label(self, found):
        if found.drivers is None:
            return False
        labels = {"chan_sip": "chan_sip", "pjsip": "PJSIP"}
        return " + ".join(labels[d] for d in found.drivers) or _("None loaded")

    def _requirements(self):
        """(key, label, read, write, level) of the parts of the suite installed here."""
        labels = {
            "worker": _("Worker connection (event filters, resync, version)"),
            "user_events": _("Dialplan UserEvents to Odoo"),
            "calls": _("Calls, popups and call history"),
            "queues": _("Queue calls"),
            "click_to_dial": _("Click-to-dial"),
            "click_to_dial_devices": _(
                "Click-to-dial on several devices of one user (auto-answer headers on PJSIP)"
            ),
            "call_actions": _("In-call actions (hang up, transfer, park, record)"),
            "protection": _("Protection (security events, ACL of bans)"),
            "config_files": _("Configuration files"),
            "console": _("Web console"),
        }
        return [
            (key, labels[key], read, write, level)
            for key, model, read, write, level in REQUIREMENTS
            if model is None or model in self.env
        ]

    def _checks(self, found):
        """The report's lines: dicts of level, name, message (plain text)."""
        where = f"{self.host}:{self.port}"
        if not found.ok:
            return self._failure_checks(found, where)
        checks = [
            {
                "level": "ok",
                "name": _("Connection"),
                "message": (
                    _(
                        "Connected to %(where)s with TLS, from %(address)s.",
                        where=where,
                        address=found.local_address,
                    )
                    if self.tls
                    else _(
                        "Connected to %(where)s from %(address)s.",
                        where=where,
                        address=found.local_address,
                    )
                ),
            },
            {
                "level": "ok",
                "name": _("Login"),
                "message": _(
                    "Logged in as %(user)s (%(banner)s).", user=self.username, banner=found.banner
                ),
            },
        ]
        if found.asterisk_version:
            checks.append(
                {
                    "level": "ok",
                    "name": _("Asterisk version"),
                    "message": found.asterisk_version,
                }
            )
        else:
            checks.append(
                {
                    "level": "warning",
                    "name": _("Asterisk version"),
                    "message": _(
                        "Unknown: CoreSettings needs write = system (or reporting) "
                        "and the command class is missing too."
                    ),
                }
            )
        if found.drivers is None:
            checks.append(
                {
                    "level": "warning",
                    "name": _("Channel driver"),
                    "message": _(
                        "Unknown: finding it needs write = command (module show) or system."
                    ),
                }
            )
        elif not found.drivers:
            checks.append(
                {
                    "level": "warning",
                    "name": _("Channel driver"),
                    "message": _("Neither chan_sip nor res_pjsip is loaded on this PBX."),
                }
            )
        else:
            checks.append(
                {
                    "level": "ok",
                    "name": _("Channel driver"),
                    "message": self._driver_label(found),
                }
            )
        reads_known = found.read_perm is not None
        if not reads_known:
            checks.append(
                {
                    "level": "warning",
                    "name": _("Read classes"),
                    "message": _(
                        "Not verified: reading them needs write = command "
                        "(Command: manager show user). Compare the user's read = line "
                        "with the snippet below."
                    ),
                }
            )
        for _key, label, read, write, level in self._requirements():
            checks.append(self._requirement_check(found, label, read, write, level))
        if found.acl:
            checks.append(
                {
                    "level": "info",
                    "name": _("permit/deny lines"),
                    "message": "\n".join(found.acl),
                }
            )
        return checks

    def _requirement_check(self, found, label, read, write, level):
        missing_read = [c for c in read if found.read_state(c) is False]
        missing_write = [c for c in write if found.write_state(c) is False]
        unknown_write = [c for c in write if found.write_state(c) is None]
        unknown_read = [c for c in read if found.read_state(c) is None]
        parts = []
        if missing_read:
            parts.append(_("missing read = %s", ",".join(missing_read)))
        if missing_write:
            parts.append(_("missing write = %s", ",".join(missing_write)))
        if parts:
            return {
                "level": level,
                "name": label,
                "message": "; ".join(parts)
                + _(" (add them to the user's lines in manager.conf, then: manager reload)"),
            }
        if unknown_write:
            return {
                "level": "warning",
                "name": label,
                "message": _(
                    "Could not tell whether write = %s is granted.", ",".join(unknown_write)
                ),
            }
        if unknown_read:
            return {
                "level": "info",
                "name": label,
                "message": _(
                    "Write permissions OK; read = %s not verified.", ",".join(unknown_read)
                ),
            }
        return {"level": "ok", "name": label, "message": _("Permissions OK.")}

    def _failure_checks(self, found, where):
        address = found.local_address or route_address(self.host, self.port) or _("unknown")
        messages = {
            "resolve": (
                _("Host name"),
                _("%(host)s cannot be resolved (DNS): check the host.", host=self.host),
            ),
            "refused": (
                _("Connection"),
                _(
                    "Connection refused by %(where)s: nothing listens on that port (is the AMI "
                    "enabled? manager.conf [general] enabled = yes, port, bindaddr), or a "
                    "firewall rejects this host.",
                    where=where,
                ),
            ),
            "timeout": (
                _("Connection"),
                _(
                    "No answer from %(where)s within %(seconds)s s: wrong host, no route, "
                    "or a firewall drops the packets.",
                    where=where,
                    seconds=self.timeout,
                ),
            ),
            "unreachable": (
                _("Connection"),
                _("%(where)s cannot be reached from this host (no route).", where=where),
            ),
            "no_banner": (
                _("AMI banner"),
                _(
                    "Connected to %(where)s, but it did not greet like Asterisk's manager "
                    'interface ("Asterisk Call Manager/..."): not the AMI port (the HTTP '
                    "port, 8088, is another one)%(tls)s.",
                    where=where,
                    tls=_(", or a TLS port: check TLS") if not self.tls else "",
                ),
            ),
            "tls": (
                _("TLS"),
                _(
                    "The TLS handshake with %(where)s failed: the port does not speak TLS "
                    "(uncheck TLS, or use manager.conf's tlsbindaddr port, usually 5039).",
                    where=where,
                ),
            ),
            "tls_verify": (
                _("TLS"),
                _(
                    "The PBX's certificate is not trusted by this host: install its CA on "
                    "the Odoo host, or uncheck Verify Certificate.",
                ),
            ),
            "auth": (
                _("Login"),
                _(
                    'Asterisk answered "Authentication failed". It answers the same for a '
                    "wrong username, a wrong secret, and for an address that the user's "
                    "permit/deny lines refuse: this Odoo connects from %(address)s, which "
                    "must match a permit = line of [%(user)s] in manager.conf.%(md5)s",
                    address=address,
                    user=self.username,
                    md5=_(" MD5 login also needs the secret written in clear in manager.conf.")
                    if self.md5_login
                    else "",
                ),
            ),
            "in_use": (
                _("Login"),
                _(
                    'Asterisk answered "Login Already In Use": the user has '
                    "allowmultiplelogin = no and is already connected (the worker?). Set "
                    "allowmultiplelogin = yes, or test with another user."
                ),
            ),
            "closed": (
                _("Connection"),
                _("%(where)s closed the connection.", where=where),
            ),
        }
        name, message = messages.get(
            found.failure, (_("Connection"), _("The test failed at %(where)s.", where=where))
        )
        if found.detail and found.failure not in ("auth", "in_use"):
            message = _("%(message)s (%(detail)s)", message=message, detail=found.detail)
        return [{"level": "error", "name": name, "message": message}]

    def _manager_conf(self, address):
        """The manager.conf lines for the suite, with a placeholder secret."""
        reads, writes = [], []
        for _key, _label, read, write, _level in self._requirements():
            reads += [c for c in read if c not in reads]
            writes += [c for c in write if c not in writes]
        # in Asterisk's own order, as "manager show user" prints them
        reads.sort(key=CLASSES.index)
        writes.sort(key=CLASSES.index)
        try:
            version = ipaddress.ip_address(address).version if address else 4
        except ValueError:
            version = 4
        deny = "0.0.0.0/0.0.0.0" if version == 4 else "::/0"
        permit = f"{address}/{32 if version == 4 else 128}" if address else "ODOO-ADDRESS/32"
        # never the typed secret: the snippet is meant to be copied around
        secret_hint = (
            _("; secret: the one typed in Odoo (not shown here)")
            if self.secret
            else _("; secret: choose a long random one, and type it in Odoo too")
        )
        secret = "********" if self.secret else "CHANGE-ME"
        lines = [
            _("; manager.conf on the PBX, then run: manager reload"),
            "[general]",
            "enabled = yes",
        ]
        if self.tls:
            lines += [
                "tlsenable = yes",
                f"tlsbindaddr = 0.0.0.0:{self.port}",
                "tlscertfile = /etc/asterisk/keys/asterisk.pem",
            ]
        else:
            lines += [f"port = {self.port}", "bindaddr = 0.0.0.0"]
        lines += [
            "",
            f"[{self.username}]",
            secret_hint,
            f"secret = {secret}",
            f"deny = {deny}",
            f"permit = {permit}" + _(" ; the address Odoo connects from"),
            "read = " + ",".join(reads),
            "write = " + ",".join(writes),
            "writetimeout = 5000",
        ]
        return "\n".join(lines) + "\n"

    # -- save ----------------------------------------------------------------------------

    def action_save(self):
        self.ensure_one()
        self._check_admin()
        values = {
            "host": self.host.strip(),
            "port": self.port,
            "username": self.username.strip(),
            "md5_login": self.md5_login,
            "tls": self.tls,
            "tls_verify": self.tls_verify,
        }
        if self.secret:
            values["secret"] = self.secret
        server = self.server_id
        if server:
            server.write(values)
        else:
            values["name"] = (self.name or "").strip() or self.host.strip()
            values["connect_timeout"] = self.timeout or 5.0
            server = self.env["asterisk_common.server"].create(values)
        return {
            "type": "ir.actions.act_window",
            "res_model": "asterisk_common.server",
            "res_id": server.id,
            "view_mode": "form",
            "target": "current",
        }


class AsteriskServerWizardCheck(models.TransientModel):
    _name = "asterisk_base.server_wizard_check"
    _description = "Asterisk Server Onboarding Check"
    _order = "sequence, id"

    wizard_id = fields.Many2one("asterisk_base.server_wizard", required=True, ondelete="cascade")
    sequence = fields.Integer()
    level = fields.Selection(LEVELS, required=True)
    name = fields.Char(string="Check", required=True)
    message = fields.Text()
