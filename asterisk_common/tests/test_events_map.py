from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tools import mute_logger

from odoo.addons.asterisk_common.tools import compile_condition, eval_condition

from .common import AsteriskCommonCase

HANDLER = {"model": "asterisk_common.user", "method": "ami_originate_response"}


class TestEventsMap(AsteriskCommonCase):
    def _entry(self, **vals):
        return self.env["asterisk_common.event"].create({"name": "Hangup", **HANDLER, **vals})

    def test_valid_entry(self):
        entry = self._entry(condition="event.get('Cause') == '16'", delay=1.5)
        self.assertEqual(entry.delay, 1.5)

    def test_unknown_model(self):
        with self.assertRaisesRegex(ValidationError, "does not exist"):
            self._entry(model="no.such.model")

    def test_method_not_a_handler(self):
        # Exists on the model, but is not declared with @ami_handler.
        for method in ("unlink", "write", "sudo", "_check_extension", "no_such_method", "x.y"):
            with (
                self.subTest(method=method),
                self.assertRaisesRegex(ValidationError, "not an AMI handler"),
            ):
                self._entry(method=method)

    def test_edit_to_non_handler_refused(self):
        entry = self._entry()
        with self.assertRaisesRegex(ValidationError, "not an AMI handler"):
            entry.method = "unlink"

    def test_condition_syntax_error(self):
        with self.assertRaisesRegex(ValidationError, "refused"):
            self._entry(condition="event['Cause'] ==")

    def test_condition_escapes_refused(self):
        escapes = [
            "__import__('os').system('id')",
            "event.__class__",
            "().__class__.__bases__[0].__subclasses__()",
            "[c for c in ().__class__.__base__.__subclasses__()]",
            "(lambda: 1).__code__",
            "event.gi_frame",
            "open('/etc/passwd').read()",
        ]
        for expr in escapes:
            with self.subTest(expr=expr), self.assertRaises(ValidationError):
                self._entry(condition=expr)

    def test_condition_runtime_builtins_restricted(self):
        # Even a code object that skipped the save-time check cannot reach a
        # builtin that safe_eval does not give.
        code = compile("open('/etc/passwd')", "<test>", "eval")
        with self.assertRaises(NameError):
            eval_condition(code, {})

    def test_condition_evaluation(self):
        code = compile_condition("event.get('Response') == 'Failure' and int(event['Reason']) == 5")
        self.assertTrue(eval_condition(code, {"Response": "Failure", "Reason": "5"}))
        self.assertFalse(eval_condition(code, {"Response": "Success", "Reason": "4"}))

    def test_condition_cannot_mutate_event(self):
        code = compile_condition("event.update({'x': 1})")
        event = {"Event": "Hangup"}
        with self.assertRaises(AttributeError):
            eval_condition(code, event)
        self.assertEqual(event, {"Event": "Hangup"})

    def test_unique(self):
        self._entry()
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            self._entry()

    def test_negative_delay(self):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            self._entry(delay=-1)

    def test_shipped_entry_is_valid(self):
        entry = self.env.ref("asterisk_common.event_originate_response_failure")
        entry._check_handler()
        entry._check_condition()
        self.assertIn(
            ("OriginateResponse", "asterisk_common.user", "ami_originate_response"),
            [(e["name"], e["model"], e["method"]) for e in entry._map_for_worker()],
        )
