from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user

from .common import ASTERISK_VERSIONS, CallsCase


class TestInCallActions(CallsCase):
    """Hang up, transfer, park and listen: the AMI actions built from the
    call's own channels."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.supervisor = new_test_user(
            cls.env, "sup", groups="base.group_user,asterisk_calls.group_asterisk_supervisor"
        )
        cls.env["asterisk_common.user"].create(
            {
                "user_id": cls.supervisor.id,
                "server_id": cls.server.id,
                "extension": "299",
                "channel_ids": [(0, 0, {"name": "SIP/boss"})],
            }
        )

    def setUp(self):
        super().setUp()
        events = self.capture_events("i2_blindtransfer")
        bridged = max(i for i, e in enumerate(events) if e["Event"] == "BridgeEnter")
        self.replay(events[: bridged + 1])  # alice and bob talking
        self.call = self.calls()
        self.assertEqual(self.call.status, "in_progress")

    def last_action(self):
        return self.env["asterisk_common.action"].search([], limit=1).payload

    def test_blind_and_attended_transfer(self):
        self.call.with_user(self.alice).pbx_transfer(number="100")
        self.assertEqual(
            self.last_action(),
            {
                "Action": "BlindTransfer",
                "Channel": "SIP/alice-00000003",
                "Context": "from-internal",
                "Exten": "100",
            },
        )
        self.call.with_user(self.bob).pbx_transfer(target_user_id=self.carol.id, attended=True)
        self.assertEqual(
            self.last_action(),
            {"Action": "Atxfer", "Channel": "SIP/bob-00000004", "Context": "from-internal",
             "Exten": "203"},
        )  # fmt: skip
        wizard = (
            self.env["asterisk_calls.transfer"]
            .with_user(self.alice)
            .create({"call_id": self.call.id, "target": "number", "number": "+33 6 12 34 56 78"})
        )
        self.assertEqual(wizard.dial_preview, "0612345678")
        wizard.action_transfer()
        self.assertEqual(self.last_action()["Exten"], "0612345678")

    def test_typed_text_never_becomes_a_header(self):
        self.call.with_user(self.alice).pbx_transfer(number="100\r\nAction: Command")
        self.assertEqual(self.last_action()["Exten"], "100")

    def test_park_the_other_party(self):
        self.assertFalse(self.call.can_park)
        with self.assertRaisesRegex(UserError, "has no parking lot"):
            self.call.with_user(self.alice).action_park()
        self.server._ami_probed(
            [
                {
                    "action": "Parkinglots",
                    "ok": True,
                    "events": [
                        {"Event": "Parkinglot", "Name": "default", "StartSpace": "701",
                         "StopSpace": "720", "Timeout": "45"},
                        {"Event": "ParkinglotsComplete", "ListItems": "1"},
                    ],
                }
            ]
        )  # fmt: skip
        self.assertEqual(self.server.parking_lots, "default (701-720)")
        self.assertTrue(self.call.can_park)
        self.call.with_user(self.alice).action_park()
        self.assertEqual(
            self.last_action(),
            {
                "Action": "Park",
                "Channel": "SIP/bob-00000004",
                "TimeoutChannel": "SIP/alice-00000003",
            },
        )

    def test_a_parked_call_says_where_it_waits(self):
        """Real capture park_caller: bob parks alice (what the Park button
        sends), who waits in space 701, then hangs up."""
        for version in ASTERISK_VERSIONS:
            with self.subTest(asterisk=version):
                self.use_asterisk(version)
                events = self.capture_events("park_caller")
                parked = next(i for i, e in enumerate(events) if e["Event"] == "ParkedCall")
                self.env.cr.precommit.data.pop("bus.bus.values", None)
                router = self.replay(events[: parked + 1])
                call = self.calls()
                self.assertEqual((call.status, call.parking_space), ("in_progress", "701"))
                self.assertEqual(
                    [(n["title"], n["message"]) for n in self.notices_to(self.bob)],
                    [("Alice is parked in space 701", "Dial 701 from any phone to take the call.")],
                )
                start = 1795700000.0 + (parked + 1) * 0.05
                self.replay(events[parked + 1 :], router=router, start=start)
                self.assertEqual(
                    (call.status, call.answered_by_id, call.parking_space),
                    ("answered", self.bob, False),
                )
                timeline = str(call.timeline_html)
                self.assertIn("Bob parked Alice in space 701 (lot default)", timeline)
                self.assertIn("Alice hung up while parked in space 701 (5 s)", timeline)

    def test_a_parked_call_nobody_takes_comes_back(self):
        """Real capture park_timeout: bob parks alice for 4 s; nobody takes her,
        so the PBX rings bob's phone again (comebacktoorigin), and he answers."""
        for version in ASTERISK_VERSIONS:
            with self.subTest(asterisk=version):
                self.use_asterisk(version)
                events = self.capture_events("park_timeout")
                timed_out = next(
                    i for i, e in enumerate(events) if e["Event"] == "ParkedCallTimeOut"
                )
                router = self.replay(events[: timed_out + 1])
                call = self.calls()
                self.assertEqual((call.status, call.parking_space), ("in_progress", False))
                start = 1795700000.0 + timed_out * 0.05
                self.replay(events[timed_out + 1 :], router=router, start=start)
                self.assertEqual(len(self.calls()), 1, "the call back is the same call")
                self.assertEqual((call.status, call.answered_by_id), ("answered", self.bob))
                self.assertEqual(
                    sorted(c.name.rpartition("-")[0] for c in call.channel_ids),
                    [self.dev("alice"), self.dev("bob"), self.dev("bob")],
                )
                self.assertEqual(set(call.channel_ids.mapped("user_id")), {self.alice, self.bob})
                timeline = str(call.timeline_html)
                self.assertIn("Bob parked Alice in space 701 (lot default)", timeline)
                self.assertIn(
                    "Nobody took Alice from parking space 701 in 4 s: "
                    f"it rings {self.dev('bob')} again",
                    timeline,
                )
                self.assertEqual(timeline.count(f"Rang Bob ({self.dev('bob')}): popup sent"), 2)

    def test_a_parked_call_taken_from_another_phone(self):
        """Real capture park_retrieve: bob parks alice, carol's phone takes her
        from space 701 (an Originate into the parkedcalls context): carol's
        channel joins alice's call, and no second call is left behind."""
        for version in ASTERISK_VERSIONS:
            with self.subTest(asterisk=version):
                self.use_asterisk(version)
                self.replay_capture("park_retrieve")
                call = self.calls()
                self.assertEqual(len(call), 1)
                self.assertEqual((call.status, call.parking_space), ("answered", False))
                self.assertEqual(call.user_ids, self.alice | self.bob | self.carol)
                self.assertFalse(call.missed_user_ids)
                timeline = str(call.timeline_html)
                self.assertIn("Carol took Alice from parking space 701 after 3 s", timeline)
                self.assertIn("Carol joined from call odoo-9a8b7c6d5e4f", timeline)
                # Replayed after an outage: nothing doubles.
                entries = len(call.timeline)
                self.replay_capture("park_retrieve")
                self.assertEqual((len(self.calls()), len(call.timeline)), (1, entries))

    def test_park_is_gone_when_the_pbx_no_longer_parks(self):
        self.server.parking_lots = "default (701-720)"
        self.server._ami_probed(
            [{"action": "Parkinglots", "ok": False, "response": {
                "Response": "Error", "Message": "Invalid/unknown command: Parkinglots. Use "
                "Action: ListCommands to show available commands."}, "events": []}]
        )  # fmt: skip
        self.assertFalse(self.server.parking_lots)
        self.assertFalse(self.call.can_park)

    def test_hangup_mine_or_all_for_admins(self):
        self.call.with_user(self.alice).action_hangup()
        self.assertEqual(
            self.last_action(), {"Action": "Hangup", "Channel": "SIP/alice-00000003", "Cause": 16}
        )
        Action = self.env["asterisk_common.action"]
        before = Action.search_count([])
        self.call.with_user(self.admin_user).action_hangup()
        hung = Action.search([], limit=Action.search_count([]) - before)
        self.assertEqual(
            sorted(a.payload["Channel"] for a in hung), ["SIP/alice-00000003", "SIP/bob-00000004"]
        )

    def test_only_supervisors_listen(self):
        with self.assertRaises(AccessError):
            self.call.with_user(self.alice).pbx_spy("listen")
        self.call.with_user(self.supervisor).pbx_spy("whisper")
        payload = self.last_action()
        self.assertEqual(
            (payload["Channel"], payload["Application"], payload["Data"]),
            ("SIP/boss", "ChanSpy", "SIP/bob-00000004,qw"),
        )
        self.assertEqual(self.call.with_user(self.supervisor).can_spy, True)
        self.assertEqual(self.call.with_user(self.alice).can_spy, False)

    def test_refusals(self):
        with self.assertRaisesRegex(UserError, "None of your phones"):
            self.call.with_user(self.admin_user).pbx_transfer(number="100")
        with self.assertRaises(AccessError):  # carol cannot even read the call
            self.call.with_user(self.carol).pbx_transfer(number="100")
        self.replay_capture("i2_blindtransfer", start=1795700100.0)  # the rest: it ends
        with self.assertRaisesRegex(UserError, "over"):
            self.call.with_user(self.alice).action_hangup()
