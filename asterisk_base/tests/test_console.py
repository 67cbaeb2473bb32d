from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from odoo.addons.asterisk_common.tests.screenshots import TourScreenshots

from ..models.asterisk_base_console_command import dangerous_prefix, normalize_command
from .common import ProtectionCase


def fake_pbx(replies):
    """``ami_action_sync`` answering ``Command`` as Asterisk 20 does (its reply
    shape: Output lines), from ``{command: (ok, output)}``; records the calls."""
    sent = []

    def ami_action_sync(server, action, **kwargs):
        sent.append(dict(action))
        ok, output = replies.get(
            action["Command"], (False, f"No such command '{action['Command']}'")
        )
        response = {"Response": "Success" if ok else "Error", "Output": output}
        return {
            "state": "done" if ok else "failed",
            "reply": {"action": "Command", "ok": ok, "response": response, "events": []},
            "error": False if ok else "Command output follows",
        }

    return sent, patch(
        "odoo.addons.asterisk_common.models.asterisk_common_server.AsteriskServer.ami_action_sync",
        ami_action_sync,
    )


class TestConsole(ProtectionCase):
    def test_commands_are_one_clean_line(self):
        self.assertEqual(normalize_command("  core   show\tversion "), "core show version")
        for bad in ("", "   ", "core show version\r\nAction: Originate", "core\x00stop", "x" * 600):
            with self.assertRaises(UserError, msg=repr(bad)):
                normalize_command(bad)

    def test_dangerous_commands_match_whole_words(self):
        prefixes = ["core stop", "reload", "module unload"]
        self.assertEqual(dangerous_prefix("core stop now", prefixes), "core stop")
        self.assertEqual(dangerous_prefix("CORE Stop gracefully", prefixes), "core stop")
        self.assertEqual(dangerous_prefix("reload chan_sip.so", prefixes), "reload")
        self.assertIsNone(dangerous_prefix("core show version", prefixes))
        self.assertIsNone(dangerous_prefix("reloadx", prefixes))
        self.assertIsNone(dangerous_prefix("core stopped", prefixes))
        # Asterisk removes quotes and backslashes before matching the words.
        for disguised in ('c"ore" stop now', "core st\\op now", '"core" "stop" now', 'core"" stop'):
            self.assertEqual(dangerous_prefix(disguised, prefixes), "core stop", disguised)
        self.assertIsNone(dangerous_prefix('"core stop" now', prefixes), "one word for Asterisk")

    def test_dangerous_list_setting(self):
        Command = self.env["asterisk_base.console_command"]
        self.assertIn("core stop", Command._dangerous_prefixes())
        self.env["ir.config_parameter"].set_param(
            "asterisk_base.console_dangerous_commands", "sip show peers,\n queue show "
        )
        self.assertEqual(Command._dangerous_prefixes(), ["sip show peers", "queue show"])
        self.env["ir.config_parameter"].set_param("asterisk_base.console_dangerous_commands", "")
        self.assertIn("core restart", Command._dangerous_prefixes(), "emptied: the default list")

    def test_run_logs_every_command(self):
        sent, fake = fake_pbx({"core show uptime": (True, ["System uptime: 5 seconds", "x"])})
        server = self.server.with_user(self.admin_user)
        with fake:
            done = server.console_run(" core show uptime ")
            failed = server.console_run("core show vers")
        self.assertEqual(done["state"], "done")
        self.assertEqual(done["output"], "System uptime: 5 seconds\nx")
        self.assertEqual(failed["state"], "failed")
        self.assertIn("No such command", failed["output"])
        self.assertEqual(sent[0], {"Action": "Command", "Command": "core show uptime"})
        log = self.env["asterisk_base.console_command"].search([("server_id", "=", self.server.id)])
        self.assertEqual(log.mapped("command"), ["core show vers", "core show uptime"])
        self.assertEqual(log.user_id, self.admin_user)
        self.assertEqual(log.mapped("state"), ["failed", "done"])

    def test_dangerous_commands_wait_for_a_confirmation(self):
        sent, fake = fake_pbx({"core stop gracefully": (True, "")})
        server = self.server.with_user(self.admin_user)
        Command = self.env["asterisk_base.console_command"]
        with fake:
            asked = server.console_run("core stop gracefully")
            self.assertEqual((asked["state"], asked["confirm"]), ("confirm", "core stop"))
            self.assertEqual(sent, [], "nothing reached the PBX")
            self.assertFalse(Command.search([("server_id", "=", self.server.id)]))
            server.console_run("core stop gracefully", True)
        self.assertEqual(len(sent), 1)
        log = Command.search([("server_id", "=", self.server.id)])
        self.assertEqual((log.command, log.dangerous), ("core stop gracefully", "core stop"))

    def test_completion_comes_from_the_pbx(self):
        sent, fake = fake_pbx(
            {
                '_command matchesarray "sip show p" "p"': (True, "peer peer peers _EOF_"),
                '_command matchesarray "" ""': (True, " ! acl agi core _EOF_"),
                '_command matchesarray "zz" "zz"': (True, "_EOF_"),
            }
        )
        server = self.server.with_user(self.admin_user)
        with fake:
            self.assertEqual(server.console_complete("sip show p"), ["peer", "peers"])
            self.assertEqual(server.console_complete(""), ["!", "acl", "agi", "core"])
            self.assertEqual(server.console_complete("zz"), [])
            self.assertEqual(server.console_complete('core "quoted'), [])
            self.assertEqual(server.console_complete("core \\"), [])
        self.assertEqual(len(sent), 3, "a quote never reaches the PBX")
        self.assertFalse(
            self.env["asterisk_base.console_command"]
            .search([])
            .filtered(lambda c: c.command.startswith("_command")),
            "completions are not logged",
        )

    def test_only_pbx_admins_use_the_console(self):
        sent, fake = fake_pbx({"core show version": (True, "Asterisk 20")})
        server = self.server.with_user(self.pbx_user)
        with fake:
            with self.assertRaises(AccessError):
                server.console_run("core show version")
            with self.assertRaises(AccessError):
                server.console_complete("core sh")
        self.assertEqual(sent, [])
        with self.assertRaises(AccessError):
            self.env["asterisk_base.console_command"].with_user(self.pbx_user).search([])
        # Admins read the log but cannot rewrite it.
        with fake:
            self.server.with_user(self.admin_user).console_run("core show version")
        log = self.env["asterisk_base.console_command"].with_user(self.admin_user).search([])
        self.assertTrue(log)
        with self.assertRaises(AccessError):
            log.write({"command": "something else"})
        with self.assertRaises(AccessError):
            log.unlink()


@tagged("post_install", "-at_install")
class TestConsoleTour(TourScreenshots, HttpCase):
    def test_console_tour(self):
        self.env["asterisk_common.server"].create(
            {"name": "Tour PBX", "host": "192.0.2.20", "username": "odoo", "secret": "s"}
        )
        admin = self.env.ref("base.user_admin")
        admin.groups_id |= self.env.ref("asterisk_common.group_asterisk_admin")
        sent, fake = fake_pbx(
            {
                '_command matchesarray "core sh" "sh"': (True, "show show _EOF_"),
                # What comes from the PBX is shown as text, never as HTML.
                "core show version": (True, ["Asterisk 20 <b class='o_injected'>x</b>", "2nd"]),
            }
        )
        with fake:
            self.start_tour(
                "/odoo/action-asterisk_base.asterisk_base_console_action",
                "asterisk_base_console",
                login="admin",
            )
        commands = [a["Command"] for a in sent]
        self.assertIn("core show version", commands)
        self.assertNotIn("core stop now", commands, "cancelled in the confirmation")
