from datetime import UTC, datetime

from ..models.asterisk_calls_call import BOOLEAN_COLUMNS
from .common import ASTERISK_VERSIONS, CallsCase, capture_path, parse_capture
from .expected import (
    BURST,
    CAPTURE_CALLS,
    NO_CALLS,
    OWN_CAPTURE_CALLS,
    PJSIP_CAPTURE_CALLS,
    PJSIP_DEVICES,
)


def snapshot(call):
    """Everything the tracker wrote about a call and its channels."""
    fields = [f for f in call._fields if f not in ("write_date", "__last_update")]
    values = call.read([f for f in fields if call._fields[f].store])[0]
    channels = call.channel_ids.read(
        [f for f, field in call.channel_ids._fields.items() if field.store]
    )
    return values, channels


class TestCaptures(CallsCase):
    """Each real capture, routed and batched as the worker does, gives the
    calls a person would expect; replaying it again changes nothing."""

    def assertCall(self, call, expected, label):
        users = {"alice": self.alice, "bob": self.bob, "carol": self.carol}
        for key in (
            "status",
            "direction",
            "caller_number",
            "caller_name",
            "called_number",
            "called_name",
            "originated",
            "transferred",
        ):
            if key in expected:
                value = call[key]
                if key.endswith(("_number", "_name")):
                    value = value or ""
                self.assertEqual(value, expected[key], f"{label}: {key}")
        self.assertEqual(
            sorted(call.user_ids.mapped("login")), sorted(expected["users"]), f"{label}: users"
        )
        answered_by = users.get(expected["answered_by"]) or self.env["res.users"]
        self.assertEqual(call.answered_by_id, answered_by, f"{label}: answered_by")
        self.assertEqual(
            sorted(call.missed_user_ids.mapped("login")), expected["missed"], f"{label}: missed"
        )
        for key in ("ring_seconds", "talk_seconds"):
            self.assertAlmostEqual(call[key], expected[key], delta=1, msg=f"{label}: {key}")
        self.assertEqual(len(call.channel_ids), expected["channels"], f"{label}: channels")
        disposition, duration, billsec = expected["cdr"]
        if self.asterisk == "20":
            self.assertEqual(
                (call.cdr_disposition, call.cdr_duration, call.cdr_billsec),
                (disposition, duration, billsec),
                f"{label}: CDR",
            )
        else:  # recorded again: the seconds may round the other way
            self.assertEqual(call.cdr_disposition, disposition, f"{label}: CDR")
            self.assertAlmostEqual(call.cdr_duration, duration, delta=1, msg=f"{label}: CDR")
            self.assertAlmostEqual(call.cdr_billsec, billsec, delta=1, msg=f"{label}: CDR")
        self.assertTrue(call.started_at and call.ended_at, f"{label}: times")
        self.assertFalse(call.is_live)
        self.assertTrue(call.followup, f"{label}: follow-up pending")

    def test_fast_path_knows_every_stored_boolean(self):
        """The tracker writes with SQL: False is NULL except in Boolean columns."""
        stored = {
            name
            for model in ("asterisk_calls.call", "asterisk_calls.channel")
            for name, field in self.env[model]._fields.items()
            if field.type == "boolean" and field.store
        }
        self.assertEqual(stored, BOOLEAN_COLUMNS)

    def test_each_capture(self):
        for name, expected_calls in CAPTURE_CALLS.items():
            with self.subTest(capture=name):
                self.Call.search([]).unlink()
                self.replay_capture(name)
                calls = self.calls()
                self.assertEqual(len(calls), len(expected_calls), name)
                for call, expected in zip(calls, expected_calls, strict=True):
                    self.assertCall(call, expected, name)
                before = [snapshot(c) for c in calls]
                self.replay_capture(name, start=1795800000.0)
                self.assertEqual([snapshot(c) for c in self.calls()], before, f"{name}: idempotent")

    def check_captures(self, captures, start):
        """Each of ``captures`` on each Asterisk recorded: the expected calls, twice."""
        for version in ASTERISK_VERSIONS:
            self.use_asterisk(version)
            for name, expected_calls in captures.items():
                with self.subTest(asterisk=version, capture=name):
                    self.Call.search([]).unlink()
                    self.replay_capture(name)
                    calls = self.calls()
                    label = f"{name} (Asterisk {version})"
                    self.assertEqual(len(calls), len(expected_calls), label)
                    for call, expected in zip(calls, expected_calls, strict=True):
                        self.assertCall(call, expected, label)
                        if "queue" in expected:
                            self.assertEqual(call.queue, expected["queue"])
                    before = [snapshot(c) for c in calls]
                    self.replay_capture(name, start=start)
                    self.assertEqual(
                        [snapshot(c) for c in self.calls()], before, f"{label}: idempotent"
                    )

    def test_own_captures(self):
        """Queues, dial outcomes, a ring group from a trunk, an attended transfer."""
        self.check_captures(OWN_CAPTURE_CALLS, 1795900000.0)

    def test_pjsip_captures(self):
        """Calls between chan_pjsip phones, and a ring group of a PJSIP phone
        with another (chan_sip on 20): the same calls as with chan_sip."""
        users = {"alice": self.pbx_alice, "carol": self.pbx_carol}
        for login, device in PJSIP_DEVICES.items():
            users[login].channel_ids = [(0, 0, {"name": device})]
        self.check_captures(PJSIP_CAPTURE_CALLS, 1795900000.0)
        self.assertIn("Rang Carol (PJSIP/dave)", str(self.calls().timeline_html))

    def test_a_call_picked_up_from_another_phone(self):
        """pickup_ringing: carol's phone takes the call ringing on bob's; the
        timeline says who picked up whose call, bob missed nothing."""
        for version in ASTERISK_VERSIONS:
            with self.subTest(asterisk=version):
                self.use_asterisk(version)
                self.replay_capture("pickup_ringing")
                call = self.calls()
                self.assertEqual(call.answered_by_id, self.carol)
                self.assertFalse(call.missed_user_ids)
                self.assertIn(
                    f"Carol picked up the call ringing on Bob ({self.dev('bob')})",
                    str(call.timeline_html),
                )

    def test_outside_caller_finds_the_contact_as_it_rings(self):
        partner = self.env["res.partner"].create({"name": "Robert", "mobile": "06 12 34 56 78"})
        self.env.cr.postcommit.run()
        events = parse_capture(capture_path("inbound_ring_group"))
        ring = next(i for i, e in enumerate(events) if e["Event"] == "DialBegin")
        self.replay(events[: ring + 1])
        call = self.calls()
        self.assertEqual((call.status, call.partner_id), ("ringing", partner))
        self.assertEqual(call.external_number, "+33612345678")

    def test_queue_timeline_names_members_and_users(self):
        self.replay_capture("queue_answered")
        html = str(self.calls().timeline_html)
        self.assertIn(
            "Queue support rang Agent Two (Local/agent2@demo), which no PBX user has", html
        )
        self.assertIn("Queue support rang Agent One: Carol", html)
        self.assertIn("Carol answered (queue support", html)

    def test_burst_of_50_originates(self):
        for batch in (1, 13, 200):
            with self.subTest(batch=batch):
                self.Call.search([]).unlink()
                self.replay_capture("j_burst_50_originates", batch=batch)
                calls = self.calls()
                self.assertEqual(len(calls), BURST["count"])
                self.assertEqual(set(calls.mapped("status")), {BURST["status"]})
                self.assertEqual(set(calls.mapped("direction")), {BURST["direction"]})
                self.assertEqual(set(calls.mapped("called_number")), {BURST["called_number"]})
                self.assertEqual(set(calls.mapped("talk_seconds")), {BURST["talk_seconds"]})
                self.assertEqual(
                    {len(c.channel_ids) for c in calls}, {BURST["channels"]}, "2 Local channels"
                )
                self.assertEqual(
                    sorted(calls.mapped("caller_number")), [str(7000 + n) for n in range(50)]
                )
                self.assertTrue(all(c.cdr_disposition == "ANSWERED" for c in calls))

    def test_captures_without_calls(self):
        for name in NO_CALLS:
            with self.subTest(capture=name):
                self.replay_capture(name)
                self.assertFalse(self.calls())

    def test_timeline_says_which_device_rang_and_whose(self):
        self.replay_capture("i2_blindtransfer")
        call = self.calls()
        kinds = [entry["k"] for entry in call.timeline]
        self.assertEqual(kinds[:2], ["ring", "answer"])
        self.assertIn("transfer", kinds)
        ring = call.timeline[0]
        self.assertEqual((ring["device"], ring["user_id"]), ("SIP/bob", self.bob.id))
        html = str(call.timeline_html)
        self.assertIn("Rang Bob (SIP/bob)", html)
        self.assertIn("Alice transferred Bob to 100", html)

    def test_a_withheld_number_from_a_trunk_is_an_outside_caller(self):
        for withheld in ("", "<unknown>", "anonymous", "Restricted"):
            with self.subTest(withheld=withheld):
                self.Call.search([]).unlink()
                events = parse_capture(capture_path("inbound_ring_group"))
                for event in events:
                    for key, value in event.items():
                        if value == "+33612345678":
                            event[key] = withheld
                self.replay(events)
                call = self.calls()
                self.assertEqual(call.direction, "inbound")
                self.assertFalse(call.external_number)
                self.assertFalse(call.partner_id)

    def test_unknown_device_is_named_in_the_timeline(self):
        self.pbx_bob.channel_ids.unlink()
        self.replay_capture("i1_redirect_bridged_channel")
        call = self.calls()
        self.assertIn("Rang SIP/bob, which no PBX user has", str(call.timeline_html))
        self.assertEqual(call.user_ids, self.alice)
        self.assertFalse(call.answered_by_id)

    def test_channel_keeps_every_cdr(self):
        self.replay_capture("inbound_ring_group")
        origin = self.calls().channel_ids.filtered(lambda c: c.device == "SIP/provider")
        self.assertEqual(len(origin.cdr), 2)  # one per phone the ring group dialled
        self.assertEqual((origin.cdr_disposition, origin.cdr_duration, origin.cdr_billsec),
                         ("ANSWERED", 6, 4))  # fmt: skip
        self.assertIn("DestinationChannel: SIP/carol", origin.cdr_text)


def utc(epoch):
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


class TestResyncAdoption(CallsCase):
    """A call that started while Odoo was not connected, from the channel list
    the worker reads when it connects (capture g: Local/300 dialling Local/110)."""

    def entries(self):
        events = parse_capture(capture_path("g_command_coreshowchannels_active_call"))
        return [e for e in events if e.get("Event") == "CoreShowChannel"]

    def test_a_call_in_progress_is_found_once(self):
        entries = self.entries()
        self.assertEqual(len(entries), 4)
        self.Call._resync(self.server, entries, 1795700400.0)
        call = self.Call.search([("linkedid", "=", "1795700306.9")])
        self.assertEqual(len(call), 1)
        self.assertEqual(call.status, "in_progress")
        self.assertTrue(call.is_live)
        self.assertEqual(len(call.channel_ids), 4)
        # Duration 00:00:02 before the snapshot: when it really started.
        self.assertEqual(call.started_at, utc(1795700398))
        self.assertEqual([e["k"] for e in call.timeline].count("adopted"), 1)
        self.assertEqual(
            set(call.channel_ids.filtered("bridge").mapped("name")),
            {"Local/110@demo-00000005;1", "Local/300@demo-00000004;2"},
        )
        before = snapshot(call)
        self.Call._resync(self.server, entries, 1795700410.0)  # reconnected again
        self.assertEqual(self.Call.search_count([("linkedid", "=", "1795700306.9")]), 1)
        self.assertEqual(snapshot(call)[1], before[1], "channels unchanged")
        self.assertEqual(call.started_at, utc(1795700398))

    def test_an_empty_pbx_adopts_nothing(self):
        self.Call._resync(self.server, [], 1795700400.0)
        self.assertFalse(self.Call.search([]))
