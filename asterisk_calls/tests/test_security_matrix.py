"""Security review as tests (issue 11): who may do what on every model of the
suite, every HTTP route without a session and as a portal user, events-map
conditions trying to leave ``safe_eval``, hostile CallerIDs, secrets kept from
non-admins, and CR/LF injection into the AMI actions the UI builds.

The expected access is written down here, not read from the CSVs: a changed
CSV line, or a new model without a row in ``MATRIX``, fails the test.
"""

import json
import re
from pathlib import Path
from unittest.mock import patch

from odoo import http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.asterisk_common.models.asterisk_common_server import (
    AsteriskServer as CommonServer,
)
from odoo.addons.asterisk_common.tools import compile_condition, eval_condition

from .common import CallsCase, capture_path, parse_capture

SUITE = (
    "asterisk_common",
    "asterisk_base",
    "asterisk_calls",
    "asterisk_agent_worker",
    "asterisk_calls_crm",
    "asterisk_calls_hr",
)
ROLES = ("public", "portal", "internal", "user", "supervisor", "admin")
OPERATIONS = {"r": "read", "w": "write", "c": "create", "u": "unlink"}

# model -> {role: operations allowed ("rwcu" letters)}; a role not listed has
# none. Least privilege: non-PBX users (public, portal, plain employees) get
# nothing; PBX users read what concerns them (record rules narrow it to their
# own rows) and write only their preferences, call notes and the Keep flag of
# recordings (the models' write() refuses the other fields); protection,
# configuration, the console log, the action queue and the events map are for
# PBX administrators. Abstract models have no table and no access.
U = {"user": "r", "supervisor": "r"}
MATRIX = {
    # asterisk_common
    "asterisk_common.server": {**U, "admin": "rwcu"},
    "asterisk_common.event": {"admin": "rwcu"},
    "asterisk_common.user": {"user": "rw", "supervisor": "rw", "admin": "rwcu"},
    "asterisk_common.user_channel": {**U, "admin": "rwcu"},
    # the queue is written by ami_action() and the worker only: a row forged over RPC
    # would skip ami_action's checks (and the console's confirmation)
    "asterisk_common.action": {"admin": "ru"},
    "asterisk_common.dispatch_error": {"admin": "rwu"},
    "asterisk_common.settings": {},  # AbstractModel
    # asterisk_base: protection and PBX management, administrators only
    "asterisk_base.security_event": {"admin": "ru"},
    "asterisk_base.ban": {"admin": "rwcu"},
    "asterisk_base.ban_policy": {"admin": "rwcu"},
    "asterisk_base.whitelist": {"admin": "rwcu"},
    "asterisk_base.targeted_account": {"admin": "rwu"},
    "asterisk_base.acl_push": {"admin": "r"},
    "asterisk_base.console_command": {"admin": "r"},  # the audit log: read-only
    "asterisk_base.conf": {"admin": "rwcu"},
    "asterisk_base.conf_version": {"admin": "r"},  # history: kept, never edited
    "asterisk_base.conf_diff": {"admin": "rwcu"},  # TransientModel
    "asterisk_base.server_wizard": {"admin": "rwcu"},  # TransientModel
    "asterisk_base.server_wizard_check": {"admin": "rwcu"},  # TransientModel
    "asterisk_base.live_status": {},  # AbstractModel
    "asterisk_base.live_status_watch": {"admin": "r"},  # written with SQL by the page
    # asterisk_calls
    "asterisk_calls.call": {"user": "rw", "supervisor": "rw", "admin": "rwcu"},
    "asterisk_calls.channel": {**U, "admin": "rwcu"},
    "asterisk_calls.recording": {"user": "rw", "supervisor": "rw", "admin": "rwcu"},
    "asterisk_calls.user_report": {**U, "admin": "r"},  # SQL view
    "asterisk_calls.transfer": {"user": "rwcu", "supervisor": "rwcu", "admin": "rwcu"},
    "asterisk_calls.linked.mixin": {},  # AbstractModel
}

# Every HTTP route the suite's controllers declare, and its auth: a new route
# fails test_every_route_is_known until it is added here and tested below.
ROUTES = {
    "/asterisk/bans/<int:server_id>.txt": "none",
    "/asterisk/bans/<int:server_id>.json": "none",
}

# Hostile CallerIDs as the worker hands them over: its reader decodes with
# errors="replace" (invalid UTF-8 becomes U+FFFD) and splits on CRLF, so a
# value may still hold a lone CR or LF, NUL and other control characters.
HTML = "<img src=x onerror=alert(1)>"
SQL_LIKE = "'; DROP TABLE res_partner; --"
HUGE = "A" * 10240
CONTROL = "Evil\x00Name\x1b[31m\rAction: Hangup\n\x07"
INVALID_UTF8 = b"\xff\xfeBad\xc3(\xed\xa0\x80".decode("utf-8", "replace")
HOSTILE = {
    "html": HTML,
    "sql": SQL_LIKE,
    "huge": HUGE,
    "control": CONTROL,
    "invalid_utf8": INVALID_UTF8,
}
OUTSIDE_NUMBER = "+33612345678"  # the trunk caller of inbound_ring_group

ESCAPES = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "(lambda: 0).__code__.co_consts",
    "(lambda e: e.__class__)(event)",
    "event.__class__.__init__.__globals__",
    "event._mapping",
    "event.get('x')._private",
    "env.cr.execute('DROP TABLE res_partner')",
    "self.env['res.users']",
    "open('/etc/passwd').read()",
    "eval('1')",
    "getattr(event, 'copy')",
    "type(event)",
    "globals()",
    "10 ** 10 ** 10",
    "2 ** int(event.get('X', '99999999'))",
    "1 << 10 ** 9",
    # str.format walks attributes and items that no name of the code shows:
    "'{0.__self__.__loader__.find_spec.__func__.__globals__[sys]}'.format(len)",
    "'{0.__class__}'.format_map({'x': event})",
    "f'{event.__class__}'",
    "[x for x in range(3) if x.__class__]",
    "event['Cause'] ==",
]


def _values(obj):
    """Every string inside a JSON-like value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield str(key)
            yield from _values(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _values(value)
    elif obj is not None:
        yield str(obj)


class SecurityCase(CallsCase):
    """CallsCase's server and users, plus one user per role."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.public = cls.env.ref("base.public_user")
        cls.portal = new_test_user(cls.env, "sec_portal", groups="base.group_portal")
        cls.internal = new_test_user(cls.env, "sec_employee", groups="base.group_user")
        cls.supervisor = new_test_user(
            cls.env, "sec_sup", groups="base.group_user,asterisk_calls.group_asterisk_supervisor"
        )
        cls.users = {
            "public": cls.public,
            "portal": cls.portal,
            "internal": cls.internal,
            "user": cls.bob,
            "supervisor": cls.supervisor,
            "admin": cls.admin_user,
        }
        cls.server.write(
            {
                "recording_http_user": "rec-user",
                "recording_http_password": "rec-PASSWORD-42",
                "parking_lots": "default (701-720)",
            }
        )
        cls.server.action_generate_ban_token()
        cls.secrets = {
            "AMI secret": cls.server.secret,
            "feed token": cls.server.ban_feed_token,
            "recording password": cls.server.recording_http_password,
        }
        cls.provisioning = "provision_secret" in cls.env["asterisk_common.user_channel"]._fields
        if cls.provisioning:
            cls.pbx_alice.channel_ids.provision = True
            cls.pbx_bob.channel_ids.provision = True
            cls.secrets["alice's SIP password"] = cls.pbx_alice.channel_ids.provision_secret
            cls.secrets["bob's SIP password"] = cls.pbx_bob.channel_ids.provision_secret

    def bus_messages(self):
        """The bus messages of the transaction so far, as sent: ``[(channel, message)]``."""
        return [
            (json.loads(v["channel"]), json.loads(v["message"]))
            for v in self.env.cr.precommit.data.get("bus.bus.values", [])
        ]


class TestAccessMatrix(SecurityCase):
    def suite_models(self):
        return {
            name for name, model in self.env.registry.items() if model._original_module in SUITE
        }

    def test_matrix_covers_every_model_of_the_suite(self):
        models = self.suite_models()
        self.assertEqual(
            set(MATRIX),
            models,
            "MATRIX must list exactly the suite's models: "
            f"missing {sorted(models - set(MATRIX))}, unknown {sorted(set(MATRIX) - models)}",
        )
        for name, allowed in MATRIX.items():
            self.assertLessEqual(set(allowed), set(ROLES), name)
            for ops in allowed.values():
                self.assertLessEqual(set(ops), set(OPERATIONS), name)

    def test_access_matrix(self):
        wrong = []
        for name, allowed in sorted(MATRIX.items()):
            for role in ROLES:
                user = self.users[role]
                model = self.env[name].with_user(user)
                actual = "".join(op for op, mode in OPERATIONS.items() if model.has_access(mode))
                expected = "".join(op for op in OPERATIONS if op in allowed.get(role, ""))
                if actual != expected:
                    wrong.append(f"{name} {role}: {actual or '-'} (expected {expected or '-'})")
                # check_access agrees with has_access
                for op, mode in OPERATIONS.items():
                    if op not in actual:
                        with self.assertRaises(AccessError, msg=f"{name} {role} {mode}"):
                            model.check_access(mode)
        self.assertFalse(wrong, "\n".join(wrong))

    def test_no_suite_acl_for_non_pbx_groups(self):
        """Every ACL line of the suite names a PBX group: none is global or for
        portal, public or every employee, whatever the model (the bridges'
        extra fields on CRM and HR models included)."""
        data = self.env["ir.model.data"].search(
            [("module", "in", SUITE), ("model", "=", "ir.model.access")]
        )
        pbx_groups = (
            self.env.ref("asterisk_common.group_asterisk_user")
            | self.env.ref("asterisk_common.group_asterisk_admin")
            | self.env.ref("asterisk_calls.group_asterisk_supervisor")
        )
        acls = self.env["ir.model.access"].browse(data.mapped("res_id"))
        self.assertTrue(acls)
        for acl in acls:
            self.assertIn(acl.group_id, pbx_groups, f"{acl.name} on {acl.model_id.model}")

    def test_pbx_groups_are_not_given_to_portal_or_public(self):
        for group in (
            "asterisk_common.group_asterisk_user",
            "asterisk_common.group_asterisk_admin",
        ):
            group = self.env.ref(group)
            self.assertIn(self.env.ref("base.group_user"), group.trans_implied_ids | group)
            self.assertFalse(group.users.filtered("share"), group.name)

    def test_record_rules_own_calls_channels_devices(self):
        self.replay_capture("i1_redirect_bridged_channel")  # Alice -> Bob
        self.replay_capture("d_sip_call_alice_to_100")  # Alice alone
        alice_bob, alice_alone = self.calls()
        Call = self.env["asterisk_calls.call"]
        Channel = self.env["asterisk_calls.channel"]
        Report = self.env["asterisk_calls.user_report"]
        everyone = alice_bob | alice_alone
        self.assertEqual(Call.with_user(self.bob).search([]), alice_bob)
        self.assertEqual(Call.with_user(self.alice).search([]), everyone)
        self.assertFalse(Call.with_user(self.carol).search([]))
        self.assertEqual(
            Call.with_user(self.supervisor).search([("id", "in", everyone.ids)]), everyone
        )
        self.assertEqual(Channel.with_user(self.bob).search([]), alice_bob.channel_ids)
        self.assertEqual(Report.with_user(self.bob).search([]).call_id, alice_bob)
        with self.assertRaises(AccessError):
            alice_alone.with_user(self.bob).read(["caller_number"])
        with self.assertRaises(AccessError):
            alice_alone.channel_ids[:1].with_user(self.bob).read(["name"])
        # PBX users and devices: one's own only
        PbxUser = self.env["asterisk_common.user"]
        Device = self.env["asterisk_common.user_channel"]
        self.assertEqual(PbxUser.with_user(self.bob).search([]), self.pbx_bob)
        self.assertEqual(Device.with_user(self.bob).search([]), self.pbx_bob.channel_ids)
        with self.assertRaises(AccessError):
            self.pbx_alice.with_user(self.bob).read(["extension"])
        with self.assertRaises(AccessError):
            self.pbx_alice.channel_ids.with_user(self.bob).read(["name"])
        # writes: notes and preferences only, and only on one's own rows
        alice_bob.with_user(self.bob).note = "ok"
        with self.assertRaises(AccessError):
            alice_bob.with_user(self.bob).write({"caller_name": "forged"})
        with self.assertRaises(AccessError):
            alice_alone.with_user(self.bob).write({"note": "not mine"})
        self.pbx_bob.with_user(self.bob).popup_sticky = True
        with self.assertRaises(AccessError):
            self.pbx_bob.with_user(self.bob).write({"extension": "299"})
        with self.assertRaises(AccessError):
            self.pbx_alice.with_user(self.bob).write({"popup_sticky": True})
        # a recording of someone else's call, and its audio
        recording = self.env["asterisk_calls.recording"].create(
            {"call_id": alice_alone.id, "channel": "SIP/alice-1", "filename": "x.wav"}
        )
        Recording = self.env["asterisk_calls.recording"]
        self.assertFalse(Recording.with_user(self.bob).search([]))
        self.assertFalse(Recording.with_user(self.supervisor).search([]))
        self.assertEqual(Recording.with_user(self.admin_user).search([]), recording)
        with self.assertRaises(AccessError):
            recording.with_user(self.bob).write({"keep": True})

    def test_handlers_refuse_every_rpc_caller(self):
        """The events map's targets run as the worker (superuser) only."""
        handlers = [
            ("asterisk_calls.call", "ami_call_events", [{"Event": "Hangup"}]),
            ("asterisk_calls.recording", "ami_recording_events", [{"Event": "VarSet"}]),
            ("asterisk_common.user", "ami_originate_response", {"Event": "OriginateResponse"}),
        ]
        if "asterisk_base.security_event" in self.env:
            handlers.append(
                ("asterisk_base.security_event", "ami_security_events", [{"Event": "x"}])
            )
        for model, method, arg in handlers:
            for role in ROLES:
                with self.subTest(model=model, role=role), self.assertRaises(AccessError):
                    getattr(self.env[model].with_user(self.users[role]), method)(arg)


class TestConditions(SecurityCase):
    """Events-map conditions: what safe_eval refuses, and more (format
    strings, private names, exponentiation) is refused at save and when the
    worker loads the map."""

    def entry(self, condition, name="Hangup"):
        return self.env["asterisk_common.event"].create(
            {
                "name": name,
                "model": "asterisk_common.user",
                "method": "ami_originate_response",
                "condition": condition,
            }
        )

    def test_escapes_refused_at_save(self):
        for index, expr in enumerate(ESCAPES):
            with self.subTest(expr=expr):
                with self.assertRaisesRegex(ValidationError, "is refused: "):
                    self.entry(expr, name=f"UserEvent{index}")
                with self.assertRaises(Exception) as caught:
                    compile_condition(expr)
                self.assertIsInstance(
                    caught.exception, (SyntaxError, ValueError, NameError, TypeError)
                )

    def test_escapes_refused_when_the_worker_loads_the_map(self):
        """A condition already in the database (written before a stricter
        check, or by SQL) never runs: the worker compiles it with the same
        check and counts the entry as failing."""
        from odoo.addons.asterisk_agent_worker.events_map import EventsMap

        entry = self.entry("event.get('Cause') == '16'")
        for expr in ESCAPES:
            with self.subTest(expr=expr):
                self.env.cr.execute(
                    "UPDATE asterisk_common_event SET condition = %s WHERE id = %s",
                    [expr, entry.id],
                )
                entry.invalidate_recordset(["condition"])
                rows = [
                    r
                    for r in self.env["asterisk_common.event"]._map_for_worker()
                    if r["id"] == entry.id
                ]
                compiled = EventsMap(rows).entries[0]
                self.assertIs(compiled.code, False)
                self.assertIn("condition refused", compiled.last_error)

    def test_runtime_scope_is_restricted(self):
        """Even a code object that skipped every check finds no dangerous
        builtin and cannot change the event."""
        for source in ("open('/etc/passwd')", "globals()", "env", "eval('1')", "getattr"):
            code = compile(source, "<test>", "eval")
            with self.subTest(source=source), self.assertRaises(NameError):
                eval_condition(code, {})
        # safe_eval's __import__ imports nothing (it returns None)
        with self.assertRaises(AttributeError):
            eval_condition(compile("__import__('os').system('id')", "<test>", "eval"), {})
        code = compile_condition("event.pop('Event')")
        event = {"Event": "Hangup"}
        with self.assertRaises(AttributeError):
            eval_condition(code, event)
        self.assertEqual(event, {"Event": "Hangup"})

    def test_usual_conditions_still_work(self):
        for expr, event, expected in [
            ("event.get('Response') == 'Failure'", {"Response": "Failure"}, True),
            ("int(event.get('Cause', 0)) in (16, 17)", {"Cause": "17"}, True),
            ("event.get('Variable', '').startswith('MIX')", {"Variable": "MIXMONITOR"}, True),
            ("len(event.get('CallerIDNum', '')) > 6 and 2 * 3 == 6", {"CallerIDNum": "1"}, False),
            ("any(k.startswith('X') for k in event)", {"Xa": "1"}, True),
        ]:
            with self.subTest(expr=expr):
                self.entry(expr).unlink()
                self.assertEqual(eval_condition(compile_condition(expr), event), expected)


class TestHostileCallerId(SecurityCase):
    """A caller chooses their CallerID name (and, on many trunks, number)."""

    def hostile_ring_group(self, name, number):
        """inbound_ring_group with the trunk caller's name and number replaced."""
        path = capture_path("inbound_ring_group")
        if path is None:
            self.skipTest("capture inbound_ring_group not found")
        events = []
        for event in parse_capture(path):
            event = dict(event)
            for prefix in ("", "Dest"):
                if event.get(prefix + "CallerIDNum") == OUTSIDE_NUMBER:
                    event[prefix + "CallerIDNum"] = number
                    event[prefix + "CallerIDName"] = name
                if event.get(prefix + "ConnectedLineNum") == OUTSIDE_NUMBER:
                    event[prefix + "ConnectedLineNum"] = number
                    event[prefix + "ConnectedLineName"] = name
            events.append(event)
        return events

    def test_hostile_callerid_stored_and_shown_as_text(self):
        cases = [(kind, value, OUTSIDE_NUMBER) for kind, value in HOSTILE.items()]
        cases += [(f"number {kind}", "Robert", value) for kind, value in HOSTILE.items()]
        for kind, name, number in cases:
            with self.subTest(kind=kind):
                self.env.cr.precommit.data.pop("bus.bus.values", None)
                self.Call.search([("server_id", "=", self.server.id)]).unlink()
                self.replay(self.hostile_ring_group(name, number))
                call = self.calls()
                self.assertEqual(len(call), 1, "the call is tracked despite its CallerID")
                self.assertEqual(call.status, "answered")
                self.assertEqual(call.answered_by_id, self.bob)
                for field in ("caller_name", "caller_number"):
                    stored = call[field] or ""
                    self.assertIsInstance(stored, str)
                    self.assertLessEqual(len(stored), 128, f"{field} is bounded")
                    self.assertNotRegex(stored, "[\x00-\x1f\x7f]", f"{field}: no control chars")
                    self.assertEqual(call._fields[field].type, "char")
                if kind == "html":
                    self.assertEqual(call.caller_name, HTML)
                for channel in call.channel_ids:
                    for field in ("caller_name", "caller_number", "connected_name"):
                        self.assertNotRegex(channel[field] or "", "[\x00-\x1f\x7f]")
                        self.assertLessEqual(len(channel[field] or ""), 128)
                # Rendered HTML: escaped
                for html in (str(call.timeline_html), str(call._chatter_body())):
                    self.assertNotIn("<img", html)
                    self.assertNotIn("\x00", html)
                if kind == "html":
                    self.assertIn("&lt;img", str(call._chatter_body()))
                # The popups: plain JSON strings, rendered by the client with t-esc
                rings = [
                    m["payload"]
                    for _c, m in self.bus_messages()
                    if m["type"] == "asterisk_calls.ring"
                ]
                self.assertTrue(rings, "popups were sent")
                for payload in rings:
                    self.assertIsInstance(payload["caller_name"], str)
                    self.assertIsInstance(payload["caller_number"], str)
                    self.assertEqual(payload["caller_name"], call.caller_name or "")
                    self.assertLessEqual(len(payload["caller_name"]), 128)
                    self.assertIsInstance(call.display_name, str)
                # Searching and grouping by it stays a parameterized query.
                self.assertEqual(self.Call.search([("caller_name", "=", call.caller_name)]), call)
                self.assertTrue(self.env["res.partner"].search_count([]))

    def test_caller_fields_are_not_html(self):
        """Where a caller's text can end up, fields are text; the only HTML
        fields of the suite are these, each built from escaped values."""
        html_fields = {
            f"{name}.{field.name}"
            for name in MATRIX
            for field in self.env[name]._fields.values()
            if field.type == "html" and field.model_name == name and (field._module or "") in SUITE
        }
        self.assertEqual(
            html_fields,
            {
                "asterisk_calls.call.timeline_html",  # escaped: this test
                "asterisk_calls.recording.player",  # an attachment id only
                "asterisk_base.conf.changes_html",  # diff_html: escaped below
                "asterisk_base.conf.pbx_changes_html",
                "asterisk_base.conf_diff.diff_html",
            },
        )
        from odoo.addons.asterisk_base.models.asterisk_base_conf import diff_html

        html = str(diff_html("[a]\nx = 1\n", f"[a]\nx = {HTML}\n", "Odoo", HTML))
        self.assertNotIn("<img", html)
        self.assertIn("&lt;img", html)
        for model, field in [
            ("asterisk_calls.call", "caller_name"),
            ("asterisk_calls.call", "called_name"),
            ("asterisk_calls.call", "caller_number"),
            ("asterisk_calls.channel", "caller_name"),
            ("asterisk_calls.channel", "connected_name"),
            ("asterisk_base.security_event", "account"),
            ("asterisk_base.targeted_account", "account"),
        ]:
            with self.subTest(field=f"{model}.{field}"):
                self.assertIn(self.env[model]._fields[field].type, ("char", "text"))

    def test_client_code_renders_text_only(self):
        """No OWL template or script of the suite injects HTML (t-out of a
        markup value, t-raw, innerHTML, markup()): caller data stays text."""
        root = Path(__file__).resolve().parents[2]
        unsafe = re.compile(r"t-out=|t-raw=|innerHTML|outerHTML|insertAdjacentHTML|markup\(")
        found = []
        for addon in SUITE:
            for path in sorted((root / addon / "static" / "src").rglob("*")):
                if path.suffix in (".js", ".xml") and path.is_file():
                    for number, line in enumerate(path.read_text().splitlines(), 1):
                        if unsafe.search(line):
                            found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
        self.assertFalse(found, "\n".join(found))


class TestSecrets(SecurityCase):
    SECRET_FIELDS = [
        ("asterisk_common.server", "secret"),
        ("asterisk_common.server", "ban_feed_token"),
        ("asterisk_common.server", "recording_http_password"),
        ("asterisk_common.server", "recording_http_user"),
    ]

    def test_server_secrets_not_readable_by_non_admins(self):
        fields = [f for _model, f in self.SECRET_FIELDS]
        # Not secrets, but a map for an attacker: what is never banned.
        fields += [
            f
            for f in ("protection_pbx_addresses", "protection_odoo_addresses")
            if f in self.server._fields
        ]
        for role in ("public", "portal", "internal", "user", "supervisor"):
            user = self.users[role]
            server = self.server.with_user(user)
            for field in fields:
                with self.subTest(role=role, field=field):
                    self.assertNotIn(field, server.fields_get())
                    for read in (
                        lambda f=field, s=server: s.read([f]),
                        lambda f=field, s=server: s.search_read([], [f]),
                        lambda f=field, s=server: s.web_read({f: {}}),
                        lambda f=field, s=server: s.web_search_read([], {f: {}}),
                        lambda f=field, s=server: s.export_data([f]),
                        lambda f=field, s=server: s.read_group([], [f], [f]),
                        # a search would be an oracle, one character at a time
                        lambda f=field, s=server: s.search([(f, "=like", "o%")]),
                        lambda f=field, s=server: s.search_count([(f, "!=", False)]),
                    ):
                        with self.assertRaises(UserError):  # AccessError is one too
                            read()
            if role in ("user", "supervisor"):
                # what they may read holds no secret
                for answer in (
                    server.read(),
                    server.search_read([]),
                    server.web_read({name: {} for name in server.fields_get()}),
                ):
                    text = json.dumps(answer, default=str)
                    for label, secret in self.secrets.items():
                        if "SIP password" not in label:
                            self.assertNotIn(secret, text, f"{label} read by {role}")

    def test_admins_read_them(self):
        server = self.server.with_user(self.admin_user)
        self.assertEqual(server.secret, self.secrets["AMI secret"])
        self.assertEqual(server.ban_feed_token, self.secrets["feed token"])

    def test_non_admins_cannot_set_or_renew_them(self):
        for role in ("internal", "user", "supervisor"):
            server = self.server.with_user(self.users[role])
            calls = [
                lambda s=server: s.write({"secret": "mine"}),
                lambda s=server: s.action_generate_ban_token(),
                lambda s=server: s.action_revoke_ban_token(),
            ]
            if hasattr(server, "action_push_bans"):
                calls.append(lambda s=server: s.action_push_bans())  # reloads the PBX's ACLs
            for call in calls:
                with self.subTest(role=role), self.assertRaises(AccessError):
                    call()
        self.assertEqual(self.server.secret, self.secrets["AMI secret"])
        self.assertEqual(self.server.ban_feed_token, self.secrets["feed token"])

    def test_sip_passwords_only_for_their_owner_and_admins(self):
        if not self.provisioning:
            self.skipTest("provisioning (asterisk_base_provisioning) not loaded")
        alice_device = self.pbx_alice.channel_ids
        secret = self.secrets["alice's SIP password"]
        self.assertEqual(alice_device.with_user(self.alice).provision_secret, secret)
        self.assertEqual(alice_device.with_user(self.admin_user).provision_secret, secret)
        for role in ("public", "portal", "internal", "user", "supervisor"):
            device = alice_device.with_user(self.users[role])
            with self.subTest(role=role), self.assertRaises(AccessError):
                device.read(["provision_secret"])
            found = self.env["asterisk_common.user_channel"].with_user(self.users[role]).sudo(False)
            if found.has_access("read"):
                self.assertFalse(found.search([("provision_secret", "=", secret)]))
        # the softphone settings of res.users: one's own only
        Users = self.env["res.users"]
        self.assertIn(secret, Users.with_user(self.alice).browse(self.alice.id)
                      .asterisk_sip_credentials or "")  # fmt: skip
        self.assertIn(secret, Users.with_user(self.admin_user).browse(self.alice.id)
                      .asterisk_sip_credentials or "")  # fmt: skip
        for role in ("internal", "user", "supervisor"):
            with self.subTest(role=role):
                other = Users.with_user(self.users[role]).browse(self.alice.id)
                try:
                    values = other.read(["asterisk_sip_credentials"])
                except AccessError:
                    continue
                self.assertNotIn(secret, json.dumps(values))
        with self.assertRaises(AccessError):
            alice_device.with_user(self.alice).write({"provision_secret": "mine"})
        with self.assertRaises(AccessError):
            alice_device.with_user(self.bob).action_new_secret()

    def test_no_secret_in_bus_messages_of_a_call(self):
        self.env.cr.precommit.data.pop("bus.bus.values", None)
        self.server.state = "connected"
        self.env["asterisk_calls.call"].with_user(self.alice).pbx_dial("0612345678")
        self.replay_capture("inbound_ring_group")
        self.replay_capture("i1_redirect_bridged_channel", start=1795700200.0)
        self.pbx_bob.action_test_popup()
        action = self.env["asterisk_common.action"].search([], limit=1)
        action._worker_done("failed", {"response": {"Response": "Error"}}, "Permission denied")
        messages = self.bus_messages()
        self.assertGreater(len(messages), 5)
        admin_partner = self.admin_user.partner_id.id
        for channel, message in messages:
            text = json.dumps(message)
            for label, secret in self.secrets.items():
                self.assertNotIn(secret, text, f"{label} in a bus message to {channel}")
            # messages to a PBX admin only may say more, none reaches others
            self.assertNotIn("odoo-secret", text)
        self.assertTrue(any(m["type"] == "asterisk_calls.ring" for _c, m in messages))
        self.assertIsInstance(admin_partner, int)


class TestCrLfInjection(SecurityCase):
    """Every AMI action the UI builds: CR, LF and NUL from a user's input are
    refused with a UserError or never reach a header."""

    BAD = ("\r\n", "\r", "\n", "\x00")

    def setUp(self):
        super().setUp()
        self.server.state = "connected"
        self.Action = self.env["asterisk_common.action"]
        self.first_action = self.Action.search([], limit=1).id or 0

    def queued(self):
        return self.Action.search([("id", ">", self.first_action)])

    def assertCleanQueue(self):
        for action in self.queued():
            for value in _values(action.payload):
                self.assertFalse(
                    set(value) & set("\r\n\x00"), f"{action.name}: {value!r} reached a header"
                )

    def test_ami_action_refuses_line_breaks_and_nul(self):
        server = self.server.with_user(self.admin_user)
        for bad in self.BAD:
            for action in (
                {"Action": "Command", "Command": f"core show version{bad}Action: Logoff"},
                {"Action": f"Ping{bad}"},
                {"Action": "Originate", "Variable": ["A=1", f"B=2{bad}Action: Logoff"]},
            ):
                with self.subTest(action=action):
                    with self.assertRaisesRegex(UserError, "line break or a NUL"):
                        server.ami_action(action)
        self.assertFalse(self.queued())
        with self.assertRaises(AccessError):  # the method itself: admins only
            self.server.with_user(self.alice).ami_action({"Action": "Ping"})

    def test_click_to_dial(self):
        Call = self.env["asterisk_calls.call"].with_user(self.alice)
        for bad in self.BAD:
            with self.subTest(bad=bad):
                Call.pbx_dial(f"100{bad}Action: Command{bad}Command: core stop now")
                self.assertEqual(self.queued()[0].payload["Exten"], "100")
        evil = self.env["res.partner"].create(
            {"name": f'Evil"{self.BAD[0]}Action: Command <x>\x1b', "phone": "+33612345678"}
        )
        result = Call.pbx_dial("+33612345678", "res.partner", evil.id)
        self.assertTrue(result["call_id"])
        caller_id = self.queued()[0].payload["CallerID"]
        self.assertRegex(caller_id, r'^"[^"<>\r\n\x00]*" <[0-9+*#]+>$')
        self.assertCleanQueue()

    def test_admin_settings_used_in_actions(self):
        """What an admin types that a PBX user's click puts in a header."""
        self.pbx_alice.originate_context = "from-internal\r\nAction: Command"
        with self.assertRaisesRegex(UserError, "line break"):
            self.env["asterisk_calls.call"].with_user(self.alice).pbx_dial("100")
        self.pbx_alice.originate_context = "from-internal"
        self.server.originate_callerid = "{name}\r\nAction: Command\x1b"
        self.env["asterisk_calls.call"].with_user(self.alice).pbx_dial("100")
        for name in ("SIP/alice\r\nAction: Command", "SIP/al\nice", "SIP/a b"):
            with self.subTest(name=name), self.assertRaises(ValidationError):
                self.pbx_alice.channel_ids.name = name
        self.assertCleanQueue()

    def test_in_call_actions(self):
        events = parse_capture(capture_path("i2_blindtransfer"))
        bridged = max(i for i, e in enumerate(events) if e["Event"] == "BridgeEnter")
        self.replay(events[: bridged + 1])
        call = self.calls().with_user(self.alice)
        for bad in self.BAD:
            with self.subTest(bad=bad):
                call.pbx_transfer(number=f"100{bad}Action: Command")
                self.assertEqual(self.queued()[0].payload["Exten"], "100")
                call.pbx_transfer(number=f"100{bad}", attended=True)
                if bad == "\x00":  # a typed value: the form cannot even store it
                    continue
                wizard = (
                    self.env["asterisk_calls.transfer"]
                    .with_user(self.alice)
                    .create({"call_id": call.id, "target": "number", "number": f"101{bad}x"})
                )
                wizard.action_transfer()
                self.assertEqual(self.queued()[0].payload["Exten"], "101")
        call.action_park()
        call.action_record_start()
        call.action_record_stop()
        call.action_hangup()
        self.assertCleanQueue()

    def fake_pbx(self, files, sent):
        """``ami_actions_sync`` through the real ``ami_action`` (its checks,
        its row), answered at once as a PBX with ``files`` would."""

        def ami_actions_sync(server, actions, **kwargs):
            results = []
            for action in actions:
                queued = server.ami_action(action)
                sent.append(dict(action))
                if action["Action"] == "GetConfig" and action["Filename"] in files:
                    response = {"Response": "Success", **files[action["Filename"]]}
                elif action["Action"] == "GetConfig":
                    results.append(
                        {"id": queued.id, "state": "failed", "reply": {}, "error": "not found"}
                    )
                    continue
                elif action["Action"] == "Command":
                    response = {"Response": "Success", "Output": ["ok", "_EOF_"]}
                else:
                    response = {"Response": "Success"}
                results.append(
                    {
                        "id": queued.id,
                        "state": "done",
                        "reply": {"response": response},
                        "error": False,
                    }
                )
            return results

        return patch.object(CommonServer, "ami_actions_sync", ami_actions_sync)

    def test_console(self):
        sent = []
        server = self.server.with_user(self.admin_user)
        with self.fake_pbx({}, sent):
            for bad in (*self.BAD, "\x1b", "\x7f"):
                with self.subTest(bad=bad):
                    with self.assertRaisesRegex(UserError, "control characters"):
                        server.console_run(f"core show version{bad}Action: Originate")
                    self.assertEqual(server.console_complete(f"core{bad}Action: X"), [])
            self.assertEqual(sent, [])
            server.console_run("core show version")
            self.assertEqual(sent, [{"Action": "Command", "Command": "core show version"}])
        with self.assertRaises(AccessError):
            self.server.with_user(self.alice).console_run("core show version")
        self.assertCleanQueue()

    def test_config_upload(self):
        sent = []
        files = {"sip.conf": {"Category-000000": "general", "Line-000000-000000": "context=demo"}}
        conf = (
            self.env["asterisk_base.conf"]
            .with_user(self.admin_user)
            .create({"server_id": self.server.id, "name": "sip.conf"})
        )
        with self.fake_pbx(files, sent):
            conf.action_download()
            # A lone CR ends a line for the parser: the text is invalid, nothing is sent.
            for content in (
                "[general]\ncontext = demo\nallow = ulaw\rAction: Originate\n",
                "[general]\rAction: Originate\ncontext = demo\n",
            ):
                with self.subTest(content=content):
                    conf.content = content
                    with self.assertRaisesRegex(UserError, "is not valid"):
                        conf.action_upload()
            # Windows line ends are line ends.
            conf.content = "[general]\ncontext = demo\r\nallow = alaw\r\n"
            conf.action_upload()
            # The module to reload is refused when saved, before anything is sent.
            for bad in ("chan_sip\r\nAction: Command", "chan_sip\rX", "chan_sip\n"):
                with self.assertRaises(ValidationError):
                    conf.reload_module = bad
                    conf.flush_recordset()
        for action in sent:
            for value in _values(action):
                self.assertFalse(set(value) & set("\r\n\x00"), f"{action}")
        self.assertTrue(any(a["Action"] == "UpdateConfig" for a in sent))
        self.assertCleanQueue()


@tagged("post_install", "-at_install")
class TestRoutes(HttpCase, SecurityCase):
    """Every route of the suite, and the core routes that serve its data,
    without a session and as a portal user."""

    def setUp(self):
        super().setUp()
        self.other_server = self.env["asterisk_common.server"].create(
            {"name": "Other PBX", "host": "192.0.2.11", "username": "odoo"}
        )
        self.other_server.action_generate_ban_token()
        self.env["asterisk_base.ban"].create(
            {"server_id": self.server.id, "address": "203.0.113.5", "permanent": True}
        )

    def login(self, user):
        """``user``'s session; None: a visitor's (public user, no login)."""
        self.session = None  # authenticate() would end the previous user's session
        login = user.login if user else None
        self.authenticate(login, login)

    def get(self, path, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.url_open(path, headers=headers, allow_redirects=False)

    def rpc(self, model, method, args=(), kwargs=None):
        response = self.url_open(
            f"/web/dataset/call_kw/{model}/{method}",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "id": 1,
                    "params": {
                        "model": model,
                        "method": method,
                        "args": list(args),
                        "kwargs": kwargs or {},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        return response

    def test_every_route_is_known(self):
        routes = {}
        for module in SUITE:
            for controller in http.Controller.children_classes.get(module, []):
                for _name, method in vars(controller).items():
                    routing = getattr(method, "original_routing", None)
                    if routing:
                        for route in routing["routes"]:
                            routes[route] = routing.get("auth", "user")
        self.assertEqual(routes, ROUTES)

    def test_ban_feed(self):
        token = self.secrets["feed token"]
        for who in (None, self.portal, self.internal, self.alice):
            self.login(who)
            for ext in ("txt", "json"):
                path = f"/asterisk/bans/{self.server.id}.{ext}"
                with self.subTest(who=who and who.login, ext=ext):
                    for bad in (None, "", "x", self.other_server.ban_feed_token, token[:-1]):
                        response = self.get(path, bad)
                        self.assertEqual(response.status_code, 403)
                        self.assertEqual(response.text, "Forbidden\n")
                        self.assertNotIn("203.0.113.5", response.text)
                    self.assertEqual(self.get(f"/asterisk/bans/999999.{ext}").status_code, 403)
                    self.assertEqual(self.get(path.replace(".", "?x=.")).status_code, 404)
                    response = self.get(path, token)
                    self.assertEqual(response.status_code, 200)
                    self.assertIn("203.0.113.5", response.text)
                    self.assertNotIn(token, response.text)
        self.server.active = False
        self.assertEqual(self.get(f"/asterisk/bans/{self.server.id}.txt", token).status_code, 403)

    def test_recording_download(self):
        self.replay_capture("i1_redirect_bridged_channel")  # Alice -> Bob
        call = self.calls()
        recording = self.env["asterisk_calls.recording"].create(
            {"call_id": call.id, "channel": "SIP/alice-1", "filename": "call.wav"}
        )
        attachment = self.env["ir.attachment"].create(
            {
                "name": "call.wav",
                "raw": b"RIFF0000WAVEsecret-voice",
                "res_model": "asterisk_calls.recording",
                "res_id": recording.id,
                "mimetype": "audio/wav",
            }
        )
        recording.attachment_id = attachment
        # A supervisor sees every call, not every recording: only the call's
        # participants and PBX admins hear it.
        for who in (None, self.portal, self.internal, self.carol, self.supervisor):
            self.login(who)
            for path in (
                f"/web/content/{attachment.id}",
                f"/web/content/{attachment.id}?download=true",
                f"/web/content/asterisk_calls.recording/{recording.id}/player",
                f"/web/content/ir.attachment/{attachment.id}/datas",
            ):
                with self.subTest(who=who and who.login, path=path):
                    response = self.get(path)
                    self.assertNotEqual(response.status_code, 200)
                    self.assertNotIn(b"secret-voice", response.content)
        for who in (self.bob, self.admin_user):
            self.login(who)
            response = self.get(f"/web/content/{attachment.id}")
            self.assertEqual(response.status_code, 200, who.login)
            self.assertIn(b"secret-voice", response.content)

    def test_json_rpc_refuses(self):
        calls = [
            ("asterisk_common.server", "search_read", [[], ["name", "secret"]]),
            ("asterisk_common.server", "search_read", [[], ["name"]]),
            ("asterisk_common.server", "console_run", [[self.server.id], "core show version"]),
            ("asterisk_common.server", "action_generate_ban_token", [[self.server.id]]),
            ("asterisk_common.server", "ami_action", [[self.server.id], {"Action": "Ping"}]),
            ("asterisk_common.user_channel", "search_read", [[], ["name"]]),
            ("asterisk_common.event", "search_read", [[], ["condition"]]),
            ("asterisk_calls.call", "search_read", [[], ["caller_number"]]),
            ("asterisk_calls.call", "pbx_dial", ["100"]),
            ("asterisk_calls.call", "pbx_my_live_calls", []),
            ("asterisk_calls.call", "ami_call_events", [[{"Event": "Hangup"}]]),
            ("asterisk_calls.recording", "search_read", [[], ["filename"]]),
            ("asterisk_base.ban", "search_read", [[], ["address"]]),
            ("asterisk_base.console_command", "search_read", [[], ["output"]]),
            ("asterisk_base.conf", "search_read", [[], ["content"]]),
            ("res.users", "read", [[self.alice.id], ["asterisk_sip_credentials"]]),
        ]
        self.replay_capture("i1_redirect_bridged_channel")
        for who in (None, self.portal):
            self.login(who)
            for model, method, args in calls:
                if model not in self.env or (
                    method == "read" and "asterisk_sip_credentials" not in self.env[model]
                ):
                    continue
                with self.subTest(who=who and who.login, model=model, method=method):
                    with mute_logger("odoo.http"):
                        answer = self.rpc(model, method, args).json()
                    self.assertIn("error", answer)
                    self.assertNotIn("result", answer)
                    text = json.dumps(answer)
                    for secret in self.secrets.values():
                        self.assertNotIn(secret, text)
                    self.assertNotIn("+33", text)
        # an employee without the PBX groups: refused as well
        self.login(self.internal)
        for model, method, args in calls:
            if model == "res.users" or model not in self.env:
                continue
            with self.subTest(who="internal", model=model, method=method):
                with mute_logger("odoo.http"):
                    answer = self.rpc(model, method, args).json()
                if method == "pbx_my_live_calls":
                    self.assertIn("error", answer)  # no read access to calls
                self.assertNotIn("result", answer, f"{model}.{method}")
