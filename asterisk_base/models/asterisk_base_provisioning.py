"""Extensions provisioning: the PBX users' devices written by Odoo into files of
its own (sip_odoo.conf or pjsip_odoo.conf, extensions_odoo.conf) that the
hand-edited files include with ``#tryinclude``."""

import secrets

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools.conf_text import TEMPLATES, from_getconfig, parse, render, same_content
from ..tools.provisioning import (
    DEVICE_NAME,
    FILES,
    HINTS_FILE,
    TECH,
    hints,
    pjsip_endpoints,
    sip_peers,
)

MAIN_FILES = {"sip_odoo.conf": "sip.conf", "pjsip_odoo.conf": "pjsip.conf"}
MAIN_FILES[HINTS_FILE] = "extensions.conf"


def new_secret():
    return secrets.token_urlsafe(18)  # 24 characters, 144 bits


class AsteriskUserChannel(models.Model):
    _inherit = "asterisk_common.user_channel"

    provision = fields.Boolean(
        string="Provisioned by Odoo",
        help="Odoo writes this device's peer (chan_sip) or endpoint (PJSIP) with a generated "
        "password: leave unticked for devices defined by hand on the PBX.",
    )
    # Readable by the device's own user (record rule) and PBX admins only.
    provision_secret = fields.Char(string="SIP Password", readonly=True, copy=False)

    @api.constrains("provision", "name")
    def _check_provision(self):
        for rec in self.filtered("provision"):
            tech, _sep, resource = rec.name.partition("/")
            if tech.upper() not in ("SIP", "PJSIP") or not DEVICE_NAME.fullmatch(resource):
                raise ValidationError(
                    _(
                        "Odoo provisions SIP/name and PJSIP/name devices (name: letters, digits, "
                        "._+-), not %s.",
                        rec.name,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("provision") and not vals.get("provision_secret"):
                vals["provision_secret"] = new_secret()
        return super().create(vals_list)

    def write(self, vals):
        res = super().write(vals)
        if vals.get("provision"):
            for rec in self.filtered(lambda r: not r.provision_secret):
                rec.provision_secret = new_secret()
        return res

    def action_new_secret(self):
        """A new password; the phone needs it too once the changes are applied."""
        for rec in self.filtered("provision"):
            rec.provision_secret = new_secret()
        return True


class AsteriskServer(models.Model):
    _inherit = "asterisk_common.server"

    provision_driver = fields.Selection(
        [("pjsip", "PJSIP (pjsip.conf)"), ("sip", "chan_sip (sip.conf)")],
        string="Channel Driver",
        default="pjsip",
        required=True,
        help="Which file Odoo writes the provisioned devices into.",
    )
    provision_context = fields.Char(
        string="Phones' Context",
        default="default",
        required=True,
        help="Dialplan context of the calls the provisioned phones make.",
    )
    provision_codecs = fields.Char(string="Codecs", default="ulaw,alaw", required=True)
    provision_transport = fields.Char(
        string="PJSIP Transport", help="The transport of pjsip.conf to use; empty: the default."
    )
    provision_hint_context = fields.Char(
        string="Hints Context",
        default="odoo-hints",
        required=True,
        help="Context of the generated hints: include it (include => odoo-hints) from the "
        "context the phones subscribe to.",
    )
    # Kept on Odoo's files, not on the server's row: the worker's health reports
    # rewrite that row every few seconds, and an apply takes longer (a conflict
    # would replay the whole apply, uploads included).
    provision_result = fields.Text(
        string="Last Apply",
        compute="_compute_provision_result",
        groups="asterisk_common.group_asterisk_admin",
    )

    def _compute_provision_result(self):
        confs = self.env["asterisk_base.conf"].search(
            [("server_id", "in", self.ids), ("generated", "=", True)], order="name"
        )
        for rec in self:
            mine = confs.filtered(lambda c, rec=rec: c.server_id == rec)
            rec.provision_result = "\n".join(filter(None, mine.mapped("provision_report"))) or False

    @api.constrains("provision_context", "provision_hint_context", "provision_codecs")
    def _check_provision_names(self):
        for rec in self:
            for value in (rec.provision_context, rec.provision_hint_context, rec.provision_codecs):
                if value and not DEVICE_NAME.fullmatch(value.replace(",", "")):
                    raise ValidationError(_("%s: letters, digits and ._+- only.", value))

    def _provision_files(self):
        """{file name: content} of Odoo's files for this server."""
        self.ensure_one()
        channels = (
            self.env["asterisk_common.user_channel"]
            .sudo()
            .search([("server_id", "=", self.id), ("pbx_user_id.active", "=", True)])
        )
        settings = {
            "context": self.provision_context,
            "codecs": self.provision_codecs,
            "transport": self.provision_transport,
        }
        tech = TECH[self.provision_driver]
        devices = [
            {
                "name": c.name.partition("/")[2],
                "secret": c.provision_secret,
                "user": c.pbx_user_id.user_id.name,
                "extension": c.pbx_user_id.extension,
            }
            for c in channels
            if c.provision and c.name.partition("/")[0].upper() == tech and c.provision_secret
        ]
        build = sip_peers if self.provision_driver == "sip" else pjsip_endpoints
        users = [
            {"extension": user.extension, "channels": user.channel_ids.mapped("name")}
            for user in channels.pbx_user_id.sorted(lambda u: u.extension or "")
        ]
        header = _("; Written by Odoo: edit the PBX users in Odoo, not this file.\n")
        files = {FILES[self.provision_driver]: header + render(build(devices, settings))}
        files[HINTS_FILE] = header + render(hints(users, self.provision_hint_context))
        # The other driver's file, if Odoo wrote it before: emptied, not left behind.
        other = FILES["sip" if self.provision_driver == "pjsip" else "pjsip"]
        if self.env["asterisk_base.conf"].search_count(
            [("server_id", "=", self.id), ("name", "=", other), ("generated", "=", True)]
        ):
            files[other] = header
        return files

    def action_provision_apply(self):
        """Write Odoo's files, upload those that changed, reload, and say what changed."""
        self.ensure_one()
        if not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            raise AccessError(_("Only PBX administrators apply provisioning changes."))
        if self.state != "connected":
            raise UserError(_("%s is not connected: nothing can be sent.", self.name))
        Conf = self.env["asterisk_base.conf"]
        report = []
        for name, text in self._provision_files().items():
            conf = Conf._set_generated(self, name, text)
            before = parse(conf.pbx_content or "")
            # Synced with what Odoo last read, and the PBX's file still says so
            # (a hand edit on the PBX host since is overwritten below).
            current = conf._pbx_categories() if conf.state == "synced" else None
            if current is not None and same_content(current, parse(text)):
                lines = [_("%s: no change", name)]
            else:
                # Odoo owns the file: a hand edit on the PBX is overwritten (and reported).
                lines = [conf._upload_one(force=True)]
                lines += _changed_categories(before, parse(text))
                lines += conf._include_warning()
            conf.provision_report = "\n".join(lines)
            report += lines
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": _("Provisioning applied"),
                "message": "\n".join(report),
                "sticky": True,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_view_generated_conf(self):
        action = self.action_view_conf()
        action["domain"] = [("server_id", "=", self.id), ("generated", "=", True)]
        return action


def _changed_categories(before, after):
    def index(cats):
        found = {}
        for cat in cats:
            found.setdefault(cat.name, []).append(cat.key())
        return found

    old, new = index(before), index(after)
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            lines.append(_("  + %s", name))
        elif name not in new:
            lines.append(_("  - %s", name))
        elif old[name] != new[name]:
            lines.append(_("  ~ %s", name))
    return lines


class AsteriskConf(models.Model):
    _inherit = "asterisk_base.conf"

    provision_report = fields.Text(
        readonly=True, copy=False, help="What the last provisioning apply did with this file."
    )

    def _include_warning(self):
        """Whether the hand-edited file includes this generated one: GetConfig of
        the main file shows the included categories in place."""
        main = MAIN_FILES.get(self.name)
        mine = {cat.name for cat in parse(self.content or "")}
        if not main or not mine:
            return []
        reply = self._ami(
            {"Action": "GetConfig", "Filename": main, "Filter": TEMPLATES}, "not found"
        )
        seen = {cat.name for cat in from_getconfig(reply)} if reply else set()
        if mine & seen:
            return []
        return [
            _(
                "  ! %(main)s does not include %(file)s yet: add the line "
                "'#tryinclude %(file)s' to it, once, on the PBX host (AMI cannot write include "
                "lines).",
                main=main,
                file=self.name,
            )
        ]


class ResUsers(models.Model):
    _inherit = "res.users"

    asterisk_sip_credentials = fields.Text(
        string="Softphone Settings", compute="_compute_asterisk_sip_credentials"
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["asterisk_sip_credentials"]

    @api.depends_context("uid")
    def _compute_asterisk_sip_credentials(self):
        is_admin = self.env.user.has_group("asterisk_common.group_asterisk_admin")
        for user in self:
            if user != self.env.user and not is_admin:
                user.asterisk_sip_credentials = False
                continue
            channels = (
                self.env["asterisk_common.user_channel"]
                .sudo()
                .search([("pbx_user_id.user_id", "=", user.id), ("provision", "=", True)])
            )
            blocks = [
                _(
                    "Server: %(host)s\nUser name: %(name)s\nPassword: %(secret)s\n"
                    "Extension: %(extension)s",
                    host=channel.server_id.host,
                    name=channel.name.partition("/")[2],
                    secret=channel.provision_secret or "",
                    extension=channel.pbx_user_id.extension or "",
                )
                for channel in channels
            ]
            user.asterisk_sip_credentials = "\n\n".join(blocks) or False
