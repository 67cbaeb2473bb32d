import re
import time

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

# Asterisk's CLI takes one line; AMI's Command action refuses nothing itself.
COMMAND_MAX = 512
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tabs are blanks
# Completion: the PBX's own (cli.c's hidden "_command matchesarray"), so that
# it knows every module loaded there. Its answer ends with this marker.
COMPLETE_EOF = "_EOF_"


def normalize_command(command):
    """The command as Asterisk reads it (words split on blanks), or UserError."""
    command = command or ""
    if _CONTROL.search(command):
        raise UserError(_("A command is one line of text, without control characters."))
    command = " ".join(command.split())
    if not command:
        raise UserError(_("Type a command."))
    if len(command) > COMMAND_MAX:
        raise UserError(_("A command has at most %s characters.", COMMAND_MAX))
    return command


def cli_words(command):
    """The words Asterisk's CLI reads in ``command`` (cli.c ``parse_args``):
    blanks separate them, double quotes group and vanish, a backslash makes
    the next character plain. ``c"ore" st\\op`` is ``core stop``."""
    words, current = [], None
    quoted = escaped = False
    for char in command:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
        elif char in " \t" and not (quoted or escaped):
            if current is not None:
                words.append("".join(current))
                current = None
        elif char == "\\" and not escaped:
            escaped = True
        else:
            if current is None:
                current = []
            current.append(char)
            escaped = False
    if current is not None:
        words.append("".join(current))
    return words


def dangerous_prefix(command, prefixes):
    """The entry of ``prefixes`` that ``command`` starts with, word by word, as
    Asterisk reads the words (ignoring case, as it matches them). Asterisk
    accepts no abbreviated words, so word prefixes are enough."""
    words = [word.lower() for word in cli_words(command)]
    for prefix in prefixes:
        head = prefix.lower().split()
        if head and words[: len(head)] == head:
            return " ".join(head)
    return None


class ConsoleCommand(models.Model):
    """The audit log of the web console: every CLI command run on a PBX."""

    _name = "asterisk_base.console_command"
    _description = "PBX Console Command"
    _order = "id desc"
    _rec_name = "command"

    server_id = fields.Many2one(
        "asterisk_common.server", required=True, index=True, ondelete="cascade", readonly=True
    )
    user_id = fields.Many2one("res.users", required=True, index=True, readonly=True)
    command = fields.Char(required=True, readonly=True)
    state = fields.Selection(
        [("done", "Done"), ("failed", "Failed"), ("timeout", "No Answer")],
        required=True,
        readonly=True,
    )
    dangerous = fields.Char(
        readonly=True, help="The dangerous command it matched: the user confirmed it."
    )
    output = fields.Text(readonly=True)
    error = fields.Char(readonly=True)
    duration_ms = fields.Integer(string="Duration (ms)", readonly=True)

    @api.model
    def _dangerous_prefixes(self):
        text = self.env["asterisk_common.settings"].get("console_dangerous_commands") or ""
        return [entry.strip() for entry in re.split(r"[,\n]", text) if entry.strip()]

    @api.model
    def _check_admin(self):
        if not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            raise AccessError(_("Only PBX administrators can use the console."))

    @api.model
    def _run(self, server, command, confirmed=False):
        """Run ``command`` on ``server`` through AMI ``Command``; log it.

        :returns: ``{"command", "state", "output", "error", "confirm"}``; a
            dangerous command not ``confirmed`` runs not and comes back with
            ``confirm`` set to the entry of the list it matched."""
        self._check_admin()
        server.ensure_one()
        command = normalize_command(command)
        dangerous = dangerous_prefix(command, self._dangerous_prefixes())
        if dangerous and not confirmed:
            return {"command": command, "state": "confirm", "confirm": dangerous}
        started = time.monotonic()
        result = server.ami_action_sync({"Action": "Command", "Command": command})
        output = _output(result)
        state = {"done": "done", "timeout": "timeout"}.get(result["state"], "failed")
        error = False
        if state != "done":
            error = result["error"] or _("Asterisk answered with an error.")
            if "permission denied" in error.lower():
                error = _("%s: the AMI user needs 'write = command' in manager.conf.", error)
        self.sudo().create(
            {
                "server_id": server.id,
                "user_id": self.env.uid,
                "command": command,
                "state": state,
                "dangerous": dangerous or False,
                "output": output,
                "error": error,
                "duration_ms": int((time.monotonic() - started) * 1000),
            }
        )
        return {"command": command, "state": state, "output": output, "error": error}

    @api.model
    def _complete(self, server, line):
        """Completions of the last word of ``line``, from the PBX: the list
        of candidates (the first is their common prefix, as Asterisk gives it)."""
        self._check_admin()
        server.ensure_one()
        line = (line or "").lstrip()
        # The line goes between quotes, which Asterisk's parser lets a backslash escape.
        if _CONTROL.search(line) or '"' in line or "\\" in line or len(line) > COMMAND_MAX:
            return []
        word = "" if line.endswith(" ") else (line.split() or [""])[-1]
        result = server.ami_action_sync(
            {"Action": "Command", "Command": f'_command matchesarray "{line}" "{word}"'},
            timeout=5,
        )
        if result["state"] != "done":
            return []
        # "<common prefix> <match> <match> ... _EOF_"; the prefix may be empty.
        parts = _output(result).split(" ")
        if COMPLETE_EOF not in parts:
            return []
        return [part for part in parts[1 : parts.index(COMPLETE_EOF)] if part]


def _output(result):
    """The text of a Command reply: its ``Output`` lines (Asterisk 14+) or body."""
    response = (result.get("reply") or {}).get("response") or {}
    output = response.get("Output")
    if output is None:
        output = response.get("content") or ""
    if isinstance(output, list):
        output = "\n".join(output)
    return output
