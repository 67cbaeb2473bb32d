import socket
import sys
import threading
from pathlib import Path
from unittest import SkipTest

from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user

REPO = Path(__file__).resolve().parents[2]


def start_simulator(test_class):
    """The suite's AMI simulator (tests/ami_simulator, from the repository root)
    running for ``test_class``, stopped with it; the class is skipped without it."""
    if (REPO / "tests" / "ami_simulator").is_dir() and str(REPO) not in sys.path:
        # appended, so that nothing already importable is shadowed
        sys.path.append(str(REPO))
    try:
        from tests.ami_simulator import SimulatorThread
    except ImportError as e:
        raise SkipTest("the AMI simulator (tests/ami_simulator) is not available") from e
    sim = SimulatorThread(port=0, failed_login_delay=0.1).start()
    test_class.addClassCleanup(sim.close)
    return sim


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestServerWizard(TransactionCase):
    """The onboarding wizard against the AMI simulator over TCP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = start_simulator(cls)
        cls.sim.add_user("dialer", "dial-secret", read="call,cdr", write="call")
        cls.admin = new_test_user(
            cls.env,
            "onboarding_admin",
            groups="base.group_user,asterisk_common.group_asterisk_admin",
        )
        cls.pbx_user = new_test_user(
            cls.env, "onboarding_user", groups="base.group_user,asterisk_common.group_asterisk_user"
        )
        cls.Wizard = cls.env["asterisk_base.server_wizard"].with_user(cls.admin)

    def wizard(self, **values):
        values.setdefault("host", "127.0.0.1")
        values.setdefault("port", self.sim.port)
        values.setdefault("username", "odoo")
        values.setdefault("timeout", 3)
        return self.Wizard.create(values)

    def checks(self, wizard):
        return {c.name: (c.level, c.message) for c in wizard.check_ids}

    def test_working_user_then_create_server(self):
        wizard = self.wizard(name="Onboarded PBX", secret="odoo-secret")
        action = wizard.action_test()
        self.assertEqual(action["res_id"], wizard.id)
        self.assertEqual(wizard.result, "ok", wizard.report)
        self.assertEqual(wizard.asterisk_version, "20.10.0")
        self.assertEqual(wizard.ami_version, "9.0.0")
        self.assertEqual(wizard.driver, "chan_sip + PJSIP")
        self.assertEqual(wizard.odoo_address, "127.0.0.1")
        self.assertEqual(self.checks(wizard)["Connection"][0], "ok")
        conf = wizard.manager_conf
        self.assertIn("[odoo]\n", conf)
        self.assertIn("permit = 127.0.0.1/32", conf)
        self.assertIn("deny = 0.0.0.0/0.0.0.0", conf)
        self.assertIn("\nread = system,call,", conf)
        self.assertIn("security", conf.split("\nread = ")[1].split("\n")[0])
        self.assertIn("\nwrite = system,call,", conf)
        for klass in ("command", "config"):
            self.assertIn(klass, conf.split("\nwrite = ")[1].split("\n")[0])
        # the typed secret is never written back
        self.assertNotIn("odoo-secret", conf)
        self.assertNotIn("odoo-secret", wizard.report)

        action = wizard.action_save()
        server = self.env["asterisk_common.server"].browse(action["res_id"])
        self.assertRecordValues(
            server,
            [
                {
                    "name": "Onboarded PBX",
                    "host": "127.0.0.1",
                    "port": self.sim.port,
                    "username": "odoo",
                    "secret": "odoo-secret",
                    "md5_login": True,
                }
            ],
        )

    def test_wrong_secret(self):
        wizard = self.wizard(secret="not-the-secret", md5_login=False)
        wizard.action_test()
        self.assertEqual(wizard.result, "error")
        level, message = self.checks(wizard)["Login"]
        self.assertEqual(level, "error")
        self.assertIn("Authentication failed", message)
        # Asterisk gives the same answer for an address refused by permit/deny:
        # the message says so, with the address Odoo connects from.
        self.assertIn("permit", message)
        self.assertIn("127.0.0.1", message)
        self.assertIn("permit = 127.0.0.1/32", wizard.manager_conf)
        self.assertIn("secret = ********", wizard.manager_conf)

    def test_refused_port(self):
        wizard = self.wizard(port=free_port(), secret="odoo-secret")
        wizard.action_test()
        self.assertEqual(wizard.result, "error")
        level, message = self.checks(wizard)["Connection"]
        self.assertEqual(level, "error")
        self.assertIn("Connection refused", message)
        self.assertIn("nothing listens", message)
        self.assertFalse(wizard.asterisk_version)
        # still a snippet (from the route to the PBX), with a placeholder secret
        self.assertIn("permit = 127.0.0.1/32", wizard.manager_conf)
        self.assertIn("secret = ********", wizard.manager_conf)

    def test_missing_write_permission(self):
        """write = call only: ListCommands has no Originate, Command, GetConfig..."""
        wizard = self.wizard(username="dialer", secret="dial-secret")
        wizard.action_test()
        checks = self.checks(wizard)
        self.assertEqual(checks["Login"][0], "ok")
        self.assertEqual(wizard.result, "error", wizard.report)
        level, message = checks["Web console"]
        self.assertEqual(level, "warning")
        self.assertIn("missing write = command", message)
        self.assertIn(
            "missing write = config", checks["Protection (security events, ACL of bans)"][1]
        )
        # without write = command, read classes cannot be read (except system)
        self.assertEqual(checks["Read classes"][0], "warning")
        self.assertIn(
            "missing read = system", checks["Worker connection (event filters, resync, version)"][1]
        )
        if "asterisk_calls.call" in self.env:
            level, message = checks["Click-to-dial"]
            self.assertEqual(level, "error")
            self.assertIn("missing write = originate", message)
            self.assertNotIn("call", message.split("write = ")[1].split(" ")[0].split(","))
            level, message = checks[
                "Click-to-dial on several devices of one user (auto-answer headers on PJSIP)"
            ]
            self.assertEqual(level, "warning")
            self.assertIn("missing write = system", message)
            # its write classes are there, its read classes could not be read
            level, message = checks["Calls, popups and call history"]
            self.assertEqual(level, "info")
            self.assertIn("read = call,cdr,dialplan not verified", message)
        self.assertEqual(checks["Asterisk version"][0], "warning")
        self.assertEqual(checks["Channel driver"][0], "warning")
        self.assertIn("[dialer]", wizard.manager_conf)

    def test_no_ami_on_that_port(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def serve():
            conn, _addr = listener.accept()
            with conn:
                conn.sendall(b"<script>alert(1)</script>\r\n")
                conn.settimeout(3)
                conn.recv(100)
            listener.close()

        threading.Thread(target=serve, daemon=True).start()
        wizard = self.wizard(port=port, secret="x")
        wizard.action_test()
        level, message = self.checks(wizard)["AMI banner"]
        self.assertEqual(level, "error")
        self.assertIn("Asterisk Call Manager", message)
        # what the peer sent is shown as plain text, never as HTML
        self.assertIn("<script>alert(1)</script>", message)
        self.assertEqual(
            self.env["asterisk_base.server_wizard_check"]._fields["message"].type, "text"
        )

    def test_update_existing_server_keeps_its_secret(self):
        server = self.env["asterisk_common.server"].create(
            {"name": "Existing PBX", "host": "127.0.0.1", "port": 5038, "secret": "odoo-secret"}
        )
        Wizard = self.Wizard.with_context(
            active_model="asterisk_common.server", active_id=server.id
        )
        wizard = Wizard.create({})
        self.assertEqual(wizard.server_id, server)
        self.assertEqual((wizard.host, wizard.port, wizard.username), ("127.0.0.1", 5038, "odoo"))
        self.assertFalse(wizard.secret)
        wizard.port = self.sim.port
        wizard.action_test()  # with the server's own secret
        self.assertEqual(self.checks(wizard)["Login"][0], "ok")
        self.assertIn("secret = CHANGE-ME", wizard.manager_conf)
        wizard.action_save()
        self.assertEqual(server.port, self.sim.port)
        self.assertEqual(server.secret, "odoo-secret")
        self.assertEqual(
            self.env["asterisk_common.server"].search_count([("name", "=", "Existing PBX")]), 1
        )

    def test_access_admins_only(self):
        Wizard = self.env["asterisk_base.server_wizard"]
        with self.assertRaises(AccessError):
            Wizard.with_user(self.pbx_user).create(
                {"host": "127.0.0.1", "port": self.sim.port, "username": "odoo"}
            )
        with self.assertRaises(AccessError):
            Wizard.with_user(self.pbx_user).search([])
        with self.assertRaises(AccessError):
            self.env["asterisk_base.server_wizard_check"].with_user(self.pbx_user).search([])
        # nor can a non-admin make Odoo probe an address through a wizard it got hold of
        wizard = self.wizard(secret="odoo-secret")
        with self.assertRaises(AccessError):
            wizard.with_user(self.pbx_user).action_test()
        with self.assertRaises(AccessError):
            wizard.with_user(self.pbx_user).sudo(False).action_save()
        action = self.env.ref("asterisk_base.asterisk_base_server_wizard_action")
        self.assertEqual(action.groups_id, self.env.ref("asterisk_common.group_asterisk_admin"))
        menu = self.env.ref("asterisk_base.menu_server_wizard")
        self.assertFalse(menu.with_user(self.pbx_user)._filter_visible_menus())
        self.assertTrue(menu.with_user(self.admin)._filter_visible_menus())
