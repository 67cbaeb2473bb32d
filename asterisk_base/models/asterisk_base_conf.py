"""Asterisk config files edited in Odoo, read and written over AMI only.

Odoo keeps its own copy of each file (``content``, every saved version kept)
and the PBX's content as last read (``pbx_content``): the base that tells,
before an upload, whether the file changed on the PBX meanwhile. An upload
never rewrites the file: it sends the UpdateConfig edits that turn what the
PBX has now into Odoo's copy, so the comments of the PBX's file survive.
"""

import logging
import os
import re

from markupsafe import Markup, escape

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools import update_config_actions
from ..tools.conf_text import (
    TEMPLATES,
    ConfError,
    from_getconfig,
    parse,
    render,
    same_content,
    sync,
    unified_diff,
)

_logger = logging.getLogger(__name__)

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*\.conf$")
MODULE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.so)?$")
# What to reload after a file changed when "config list" does not say.
RELOAD_MODULES = {
    "sip.conf": "chan_sip",
    "iax.conf": "chan_iax2",
    "extensions.conf": "pbx_config",
    "queues.conf": "app_queue",
    "manager.conf": "manager",
    "acl.conf": "acl",
    "features.conf": "features",
    "musiconhold.conf": "res_musiconhold",
    "voicemail.conf": "app_voicemail",
    "confbridge.conf": "app_confbridge",
    "rtp.conf": "res_rtp_asterisk",
    "logger.conf": "logger",
    "cdr.conf": "cdr",
    "cel.conf": "cel",
    "http.conf": "http",
    "indications.conf": "indications",
    "udptl.conf": "udptl",
    "res_parking.conf": "res_parking",
}


def reload_module_of(name):
    """The module to reload for ``name``; Odoo's generated ``sip_odoo.conf`` is
    included by ``sip.conf``: same module."""
    if name.startswith("pjsip"):
        return "res_pjsip"
    return RELOAD_MODULES.get(name.replace("_odoo.conf", ".conf"), False)


def diff_html(old, new, old_label, new_label):
    """A unified diff as HTML; every line escaped (files may hold anything)."""
    lines = unified_diff(old, new, old_label, new_label)
    if not lines:
        return Markup('<p class="text-muted">%s</p>') % _("No difference.")
    rows = []
    for line in lines:
        if line.startswith(("+++", "---")):
            css = "fw-bold"
        elif line.startswith("@@"):
            css = "text-info"
        elif line.startswith("+"):
            css = "text-success bg-success-subtle"
        elif line.startswith("-"):
            css = "text-danger bg-danger-subtle"
        else:
            css = ""
        rows.append(Markup('<div class="%s">%s</div>') % (css, escape(line) or Markup("&nbsp;")))
    return Markup('<pre class="o_asterisk_conf_diff font-monospace small mb-0">%s</pre>') % Markup(
        ""
    ).join(rows)


class AsteriskConf(models.Model):
    _name = "asterisk_base.conf"
    _description = "PBX Config File"
    _order = "server_id, generated, name"

    name = fields.Char(
        string="File", required=True, help="The file's name in the PBX's config directory."
    )
    server_id = fields.Many2one(
        "asterisk_common.server", required=True, index=True, ondelete="cascade"
    )
    content = fields.Text(help="Odoo's version of the file. Comments stay in Odoo.")
    pbx_content = fields.Text(
        string="PBX Content",
        readonly=True,
        copy=False,
        help="The file as the PBX had it at the last download or upload: what an upload "
        "checks the PBX still has.",
    )
    pbx_latest = fields.Text(
        string="PBX Content Now",
        readonly=True,
        copy=False,
        help="What the PBX had when an upload was refused because the file changed there.",
    )
    state = fields.Selection(
        [
            ("new", "Not on the PBX"),
            ("synced", "Up to Date"),
            ("modified", "Modified in Odoo"),
            ("conflict", "Changed on Both Sides"),
            ("invalid", "Invalid"),
        ],
        compute="_compute_state",
        store=True,
    )
    parse_error = fields.Char(compute="_compute_state", store=True)
    generated = fields.Boolean(
        readonly=True,
        help="Written by Odoo (extensions provisioning), not by hand: include it from a "
        "hand-edited file with #tryinclude.",
    )
    reload_module = fields.Char(
        help="Module reloaded after an upload (chan_sip, res_pjsip, pbx_config, app_queue…). "
        "Empty: nothing is reloaded.",
    )
    downloaded_at = fields.Datetime(readonly=True, copy=False)
    uploaded_at = fields.Datetime(readonly=True, copy=False)
    last_result = fields.Char(readonly=True, copy=False)
    version_ids = fields.One2many("asterisk_base.conf_version", "conf_id", string="Versions")
    version_count = fields.Integer(compute="_compute_version_count")
    changes_html = fields.Html(string="Changes to Upload", compute="_compute_diffs", sanitize=False)
    pbx_changes_html = fields.Html(
        string="Changed on the PBX", compute="_compute_diffs", sanitize=False
    )

    _sql_constraints = [
        ("file_unique", "UNIQUE (server_id, name)", "This server already has this file."),
    ]

    @api.constrains("name")
    def _check_name(self):
        for rec in self:
            if not FILE_NAME.fullmatch(rec.name or ""):
                raise ValidationError(
                    _("%s is not a config file name (letters, digits, ._+- and .conf).", rec.name)
                )

    @api.constrains("reload_module")
    def _check_reload_module(self):
        # Checked when saved: a Reload refused after the edits were sent is too late.
        for rec in self:
            if rec.reload_module and not MODULE_NAME.fullmatch(rec.reload_module):
                raise ValidationError(
                    _("%s is not an Asterisk module name (e.g. chan_sip).", rec.reload_module)
                )

    @api.depends("content", "pbx_content", "pbx_latest")
    def _compute_state(self):
        for rec in self:
            try:
                mine = parse(rec.content)
            except ConfError as e:
                rec.state, rec.parse_error = "invalid", str(e)
                continue
            rec.parse_error = False
            if rec.pbx_latest:
                rec.state = "conflict"
            elif rec.pbx_content is False:
                rec.state = "new"
            else:
                rec.state = "synced" if same_content(mine, parse(rec.pbx_content)) else "modified"

    def _compute_version_count(self):
        counts = dict(
            self.env["asterisk_base.conf_version"]._read_group(
                [("conf_id", "in", self.ids)], ["conf_id"], ["__count"]
            )
        )
        for rec in self:
            rec.version_count = counts.get(rec, 0)

    @api.depends("content", "pbx_content", "pbx_latest")
    def _compute_diffs(self):
        for rec in self:
            base = rec.pbx_content or ""
            rec.changes_html = diff_html(base, rec.content, _("PBX"), _("Odoo"))
            rec.pbx_changes_html = (
                diff_html(base, rec.pbx_latest, _("your download"), _("PBX now"))
                if rec.pbx_latest
                else False
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("reload_module") and vals.get("name"):
                vals["reload_module"] = reload_module_of(vals["name"])
        records = super().create(vals_list)
        for rec in records.filtered("content"):
            rec._add_version("generated" if rec.generated else "edit")
        return records

    def write(self, vals):
        if (
            "content" in vals
            and self.filtered("generated")
            and not self.env.context.get("asterisk_conf_generating")
        ):
            raise UserError(_("Odoo generates this file: change the PBX users instead."))
        before = {rec: rec.content for rec in self} if "content" in vals else {}
        res = super().write(vals)
        for rec, old in before.items():
            if rec.content != old:
                rec._add_version(self.env.context.get("asterisk_conf_version_kind", "edit"))
        return res

    def _add_version(self, kind):
        # Versions are history: nobody creates or edits them by hand.
        self.env["asterisk_base.conf_version"].sudo().create(
            {
                "conf_id": self.id,
                "content": self.content or "",
                "kind": kind,
                "user_id": self.env.uid,
            }
        )

    # -- AMI -------------------------------------------------------------------------------

    def _ami(self, action, expected_error=None):
        """The reply headers of ``action``; None if it failed with ``expected_error``."""
        return self.server_id._ami_reply(
            action, expected_error=expected_error, timeout=15, subject=self.name
        )

    def _pbx_categories(self):
        """The file's categories on the PBX now; None if it has no such file."""
        reply = self._ami(
            {"Action": "GetConfig", "Filename": self.name, "Filter": TEMPLATES}, "not found"
        )
        return None if reply is None else from_getconfig(reply)

    def _check_connected(self):
        # Before anything reaches the PBX: a method call checks no access by itself.
        self.check_access("write")
        for server in self.server_id:
            if server.state != "connected":
                raise UserError(_("%s is not connected: nothing can be sent.", server.name))

    # -- buttons ---------------------------------------------------------------------------

    def action_download(self):
        """Read the files from the PBX. Odoo's copy is kept (with its comments)
        when it says the same; otherwise the PBX's version replaces it (the old
        one stays in the versions)."""
        self._check_connected()
        missing = self.browse()
        for rec in self:
            cats = rec._pbx_categories()
            if cats is None:
                missing |= rec
                rec.write({"pbx_content": False, "pbx_latest": False})
                continue
            rec._downloaded(cats)
        if missing:
            return _notification(
                _("Not on the PBX: %s", ", ".join(missing.mapped("name"))), "warning"
            )
        return _notification(_("Downloaded: %s", ", ".join(self.mapped("name"))))

    def _downloaded(self, cats):
        text = render(cats)
        vals = {"pbx_content": text, "pbx_latest": False, "downloaded_at": fields.Datetime.now()}
        try:
            keep = self.generated or same_content(parse(self.content), cats)
        except ConfError:
            keep = False
        if not keep:
            vals["content"] = text
        self.with_context(
            asterisk_conf_version_kind="download", asterisk_conf_generating=True
        ).write(vals)

    def action_upload(self):
        """Send Odoo's version, unless the PBX's changed since it was read."""
        return self._upload(force=False)

    def action_overwrite(self):
        """After a conflict: make the PBX's file Odoo's version anyway."""
        return self._upload(force=True)

    def action_take_pbx_version(self):
        """After a conflict: drop Odoo's changes for what the PBX has now."""
        for rec in self.filtered("pbx_latest"):
            rec.with_context(
                asterisk_conf_version_kind="download", asterisk_conf_generating=True
            ).write(
                {
                    "content": rec.pbx_latest,
                    "pbx_content": rec.pbx_latest,
                    "pbx_latest": False,
                    "downloaded_at": fields.Datetime.now(),
                }
            )
        return True

    def _upload(self, force):
        self._check_connected()
        messages, conflicts = [], self.browse()
        for rec in self:
            outcome = rec._upload_one(force)
            if outcome is None:
                conflicts |= rec
            else:
                messages.append(outcome)
        if conflicts:
            # Not an exception: the PBX's version must stay saved for the admin to see.
            return _notification(
                _(
                    "%s changed on the PBX since it was downloaded: nothing was sent. "
                    "Compare both versions, then overwrite the PBX or take its version.",
                    ", ".join(conflicts.mapped("name")),
                ),
                "danger",
                sticky=True,
                reload=True,
            )
        return _notification("\n".join(messages), reload=True)

    def _upload_one(self, force):
        """Upload one file; None when refused for a conflict, else what was done."""
        self.ensure_one()
        if self.state == "invalid":
            raise UserError(
                _("%(file)s is not valid: %(error)s", file=self.name, error=self.parse_error)
            )
        wanted = parse(self.content)
        current = self._pbx_categories()
        base = parse(self.pbx_content) if self.pbx_content else []
        if not force and not same_content(current or [], base):
            # Never empty: an empty text would not show the conflict.
            self.pbx_latest = render(current or []) or _("; empty or missing on the PBX\n")
            return None
        if current is None:
            self._ami({"Action": "CreateConfig", "Filename": self.name})
            current = []

        def write(edits):
            for action in update_config_actions(self.name, edits):
                self._ami(action)

        try:
            sent, after = sync(lambda: self._pbx_categories() or [], write, wanted, current=current)
        except ConfError as e:
            raise UserError(_("%(file)s: %(error)s", file=self.name, error=e)) from e
        reloaded = False
        if sent and self.reload_module:
            self._ami({"Action": "Reload", "Module": self.reload_module})
            reloaded = True
        if not same_content(after, wanted):  # pragma: no cover - Asterisk disagreed
            _logger.warning(
                "%s on %s: the PBX's file differs after upload", self.name, self.server_id.name
            )
        result = (
            _("%(file)s: %(count)s changes sent", file=self.name, count=sent)
            if sent
            else _("%s: already up to date on the PBX", self.name)
        )
        if reloaded:
            result += _(", %s reloaded", self.reload_module)
        self.with_context(asterisk_conf_version_kind="upload", asterisk_conf_generating=True).write(
            {
                "pbx_content": render(after),
                "pbx_latest": False,
                "uploaded_at": fields.Datetime.now(),
                "last_result": result,
            }
        )
        if sent:
            self._add_version("upload")  # who sent what to the PBX, and when
        _logger.info("server %s: %s", self.server_id.name, result)
        return result

    def action_view_versions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "asterisk_base.asterisk_base_conf_version_action"
        )
        action["domain"] = [("conf_id", "=", self.id)]
        action["context"] = {"default_conf_id": self.id}
        return action

    def action_compare(self):
        self.ensure_one()
        versions = self.version_ids.sorted("id", reverse=True)
        return self._compare_action(versions[1:2] or versions[:1], versions[:1])

    def _compare_action(self, old, new):
        return {
            "type": "ir.actions.act_window",
            "name": _("Compare Versions"),
            "res_model": "asterisk_base.conf_diff",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_conf_id": self.id,
                "default_old_version_id": old.id,
                "default_new_version_id": new.id,
            },
        }

    # -- files of a server -----------------------------------------------------------------

    @api.model
    def _set_generated(self, server, name, text):
        """Odoo's own file ``name`` on ``server`` (provisioning) now says ``text``."""
        conf = self.search([("server_id", "=", server.id), ("name", "=", name)])
        if conf and not conf.generated:
            raise UserError(
                _("%s is a hand-edited file of this server: Odoo will not generate it.", name)
            )
        if not conf:
            return self.create(
                {"server_id": server.id, "name": name, "generated": True, "content": text}
            )
        conf.with_context(
            asterisk_conf_generating=True, asterisk_conf_version_kind="generated"
        ).write({"content": text})
        return conf

    @api.model
    def _pbx_file_list(self, server):
        """{file name: module} of the files the PBX's modules loaded ("config list")."""
        result = server.ami_action_sync({"Action": "Command", "Command": "config list"}, timeout=15)
        if result["state"] != "done":
            raise UserError(_("'config list' failed: %s", result["error"]))
        response = (result["reply"] or {}).get("response") or {}
        output = response.get("Output") or response.get("content") or ""
        lines = output if isinstance(output, list) else output.splitlines()
        files = {}
        for line in lines:
            # "%-20.20s %-50s": the module that asked, the file's path.
            module, path = line[:20].strip(), line[21:].strip()
            name = os.path.basename(path)
            if FILE_NAME.fullmatch(name) and name not in files:
                files[name] = module if module and module != "core" else False
        return files

    @api.model
    def _download_all(self, server, progress=None):
        """Create the records of the PBX's files and download them all;
        ``progress(done, total, name)`` is told after each."""
        listed = self._pbx_file_list(server)
        existing = {c.name: c for c in self.search([("server_id", "=", server.id)])}
        for name, module in listed.items():
            if name not in existing:
                existing[name] = self.create(
                    {
                        "server_id": server.id,
                        "name": name,
                        "reload_module": reload_module_of(name) or module,
                    }
                )
        files = [c for name, c in sorted(existing.items()) if not c.generated]
        failed = []
        for done, conf in enumerate(files, start=1):
            try:
                cats = conf._pbx_categories()
            except UserError as e:
                failed.append(str(e))
            else:
                if cats is None:
                    conf.write({"pbx_content": False})
                else:
                    conf._downloaded(cats)
            if progress:
                progress(done, len(files), conf.name)
        return {"files": len(files), "failed": failed}


def _notification(message, kind="success", sticky=False, reload=False):
    action = {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {"type": kind, "message": message, "sticky": sticky},
    }
    if reload:
        action["params"]["next"] = {"type": "ir.actions.client", "tag": "soft_reload"}
    return action


class AsteriskConfVersion(models.Model):
    _name = "asterisk_base.conf_version"
    _description = "PBX Config File Version"
    _order = "id desc"

    conf_id = fields.Many2one("asterisk_base.conf", required=True, index=True, ondelete="cascade")
    server_id = fields.Many2one(related="conf_id.server_id")
    content = fields.Text(readonly=True)
    kind = fields.Selection(
        [
            ("edit", "Edited in Odoo"),
            ("download", "Downloaded"),
            ("upload", "Uploaded"),
            ("generated", "Generated"),
        ],
        required=True,
        readonly=True,
    )
    user_id = fields.Many2one(
        "res.users", string="Author", default=lambda self: self.env.user, readonly=True
    )
    name = fields.Char(compute="_compute_name")

    def _compute_name(self):
        for rec in self:
            rec.name = "%s, %s (%s)" % (
                fields.Datetime.to_string(
                    fields.Datetime.context_timestamp(rec, rec.create_date or fields.Datetime.now())
                )[:16],
                rec.user_id.name or "",
                dict(self._fields["kind"].selection).get(rec.kind, ""),
            )

    def action_restore(self):
        """Make this version Odoo's copy again (to upload it after)."""
        self.ensure_one()
        self.conf_id.content = self.content
        return {
            "type": "ir.actions.act_window",
            "res_model": "asterisk_base.conf",
            "res_id": self.conf_id.id,
            "view_mode": "form",
        }

    def action_compare_current(self):
        self.ensure_one()
        latest = self.conf_id.version_ids.sorted("id", reverse=True)[:1]
        return self.conf_id._compare_action(self, latest)


class AsteriskConfDiff(models.TransientModel):
    _name = "asterisk_base.conf_diff"
    _description = "Compare Config File Versions"

    conf_id = fields.Many2one("asterisk_base.conf", required=True, ondelete="cascade")
    old_version_id = fields.Many2one(
        "asterisk_base.conf_version", string="From", domain="[('conf_id', '=', conf_id)]"
    )
    new_version_id = fields.Many2one(
        "asterisk_base.conf_version", string="To", domain="[('conf_id', '=', conf_id)]"
    )
    diff_html = fields.Html(string="Difference", compute="_compute_diff_html", sanitize=False)

    @api.depends("old_version_id", "new_version_id")
    def _compute_diff_html(self):
        for rec in self:
            rec.diff_html = diff_html(
                rec.old_version_id.content or "",
                rec.new_version_id.content or "",
                rec.old_version_id.name or "",
                rec.new_version_id.name or "",
            )
