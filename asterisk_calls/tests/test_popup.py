import json

from websocket import WebSocketTimeoutException

from odoo.tests import tagged

from odoo.addons.bus.tests.common import WebsocketCase

from .common import CallsCase, capture_path, parse_capture


@tagged("post_install", "-at_install")
class TestPopups(WebsocketCase, CallsCase):
    """Popups reach the browsers of the users whose phone rings, over a real
    websocket, and only them; they close when the call is answered."""

    def setUp(self):
        super().setUp()
        self._kept = {}

    def _listen(self, user):
        self.session = None  # authenticate() would end the previous user's session
        session = self.authenticate(user.login, user.login)
        ws = self.websocket_connect(cookie=f"session_id={session.sid};")
        self.subscribe(ws, [], self.env["bus.bus"]._bus_last_id())
        ws.settimeout(2)
        return ws

    def _received(self, ws, kind):
        """Every payload of type ``kind`` that came, until the socket is quiet
        (the other types are kept for the next call)."""
        kept = self._kept.setdefault(id(ws), [])
        found = [payload for k, payload in kept if k == kind]
        kept[:] = [(k, payload) for k, payload in kept if k != kind]
        try:
            for _frame in range(100):
                data = ws.recv()
                if not data:  # a control frame
                    continue
                for notification in json.loads(data):
                    message = notification["message"]
                    if message["type"] == kind:
                        found.append(message["payload"])
                    else:
                        kept.append((message["type"], message["payload"]))
        except WebSocketTimeoutException:
            pass
        return found

    def _dispatch(self):
        users = self.alice | self.bob | self.carol
        self.trigger_notification_dispatching(users.partner_id)

    def test_ring_group_pops_up_for_the_ringing_users_only(self):
        partner = self.env["res.partner"].create({"name": "Robert", "mobile": "06 12 34 56 78"})
        self.env.cr.postcommit.run()
        sockets = {user: self._listen(user) for user in (self.alice, self.bob, self.carol)}
        events = parse_capture(capture_path("inbound_ring_group"))
        answer = next(
            i
            for i, e in enumerate(events)
            if e.get("DialStatus") == "ANSWER" and e["Event"] == "DialEnd"
        )
        router = self.replay(events[:answer])  # bob and carol ring
        self._dispatch()
        rings = {user: self._received(ws, "asterisk_calls.ring") for user, ws in sockets.items()}
        self.assertEqual(rings[self.alice], [], "alice's phone did not ring")
        for user in (self.bob, self.carol):
            self.assertEqual(len(rings[user]), 1, f"one popup for {user.name}")
            payload = rings[user][0]
            self.assertEqual(payload["caller_number"], "+33612345678")
            self.assertEqual(payload["partner"], {"id": partner.id, "name": "Robert"})
            self.assertFalse(payload["sticky"])
        call = self.calls()
        self.assertIn("Rang Bob (SIP/bob): popup sent", str(call.timeline_html))

        self.replay(events[answer:], router=router, start=1795700100.0)  # bob answers
        self._dispatch()
        # Each popup closed once: carol's when her phone stopped ringing (the
        # ring group cancelled it), bob's when he answered.
        ends = {u: self._received(sockets[u], "asterisk_calls.ring_end") for u in sockets}
        for user in (self.bob, self.carol):
            self.assertEqual([e["call_id"] for e in ends[user]], [call.id], user.name)
        self.assertEqual(ends[self.bob][0]["answered_by"], "Bob")
        self.assertTrue(ends[self.bob][0]["answered_by_me"])
        self.assertFalse(ends[self.carol][0]["answered_by_me"])
        self.assertEqual(ends[self.alice], [])

    def test_events_replayed_mid_call_open_no_popup_again(self):
        sockets = {user: self._listen(user) for user in (self.bob, self.carol)}
        events = parse_capture(capture_path("inbound_ring_group"))
        answer = next(i for i, e in enumerate(events) if e.get("DialStatus") == "ANSWER")
        talking = next(
            i for i, e in enumerate(events) if i > answer and e["Event"] == "BridgeEnter"
        )
        router = self.replay(events[: talking + 1])  # rang, bob answered, they talk
        self._dispatch()
        for user, ws in sockets.items():
            self.assertEqual(len(self._received(ws, "asterisk_calls.ring")), 1, user.name)
        self.replay(events[: talking + 1], router=router, start=1795700100.0)  # again
        self._dispatch()
        for user, ws in sockets.items():
            self.assertEqual(self._received(ws, "asterisk_calls.ring"), [], user.name)
        self.assertEqual(self.calls().status, "in_progress")

    def test_queue_member_popup_and_preferences(self):
        self.pbx_carol.write({"popup_sticky": True, "open_partner_form": True})
        ws = self._listen(self.carol)
        self.replay_capture("queue_answered")
        self._dispatch()
        rings = self._received(ws, "asterisk_calls.ring")
        self.assertEqual(len(rings), 1, "agent1 (Local/agent1@demo) is Carol's device")
        self.assertTrue(rings[0]["sticky"])
        self.assertEqual(rings[0]["queue"], "support")

    def test_popups_off_no_popup_and_the_timeline_says_why(self):
        self.pbx_bob.popup_incoming = False
        ws = self._listen(self.bob)
        self.replay_capture("sip_noanswer")
        self._dispatch()
        self.assertEqual(self._received(ws, "asterisk_calls.ring"), [])
        html = str(self.calls().timeline_html)
        self.assertIn("Rang Bob (SIP/bob): no popup, the user turned popups off", html)

    def test_hostile_caller_name_travels_as_data(self):
        ws = self._listen(self.bob)
        hostile = "<img src=x onerror=alert(1)>" + "\x07\x1b" + "x" * 10000
        self.pbx_bob.with_user(self.admin_user).action_test_popup(caller_name=hostile)
        self.trigger_notification_dispatching(self.bob.partner_id)
        (payload,) = self._received(ws, "asterisk_calls.ring")
        self.assertEqual(payload["caller_name"], hostile)  # unchanged: the client shows text

    def test_test_popup_shows_the_history_the_user_may_read(self):
        partner = self.env["res.partner"].create({"name": "Robert", "mobile": "06 12 34 56 78"})
        Call = self.env["asterisk_calls.call"]
        values = {"server_id": self.server.id, "status": "answered", "partner_id": partner.id}
        bobs = Call.create(dict(values, linkedid="t.bob", user_ids=self.bob.ids))
        Call.create(dict(values, linkedid="t.carol", user_ids=self.carol.ids))
        partner.activity_schedule(
            "mail.mail_activity_data_call", summary="Quote", user_id=self.bob.id
        )
        ws = self._listen(self.bob)
        self.pbx_bob.with_user(self.admin_user).action_test_popup(caller_number="0612345678")
        self.trigger_notification_dispatching(self.bob.partner_id)
        (payload,) = self._received(ws, "asterisk_calls.ring")
        self.assertEqual(payload["partner"]["id"], partner.id)
        # Carol's call with him is not Bob's to read, in a test popup as in a real one
        self.assertEqual([c["id"] for c in payload["last_calls"]], bobs.ids)
        self.assertEqual([a["summary"] for a in payload["activities"]], ["Quote"])

    def test_live_lists_refresh_for_participants_and_supervisors(self):
        supervisor = self.env["res.users"].create(
            {
                "name": "Sup",
                "login": "sup",
                "password": "sup",
                "groups_id": [(6, 0, self.env.ref("asterisk_calls.group_asterisk_supervisor").ids)],
            }
        )
        sockets = {u: self._listen(u) for u in (self.alice, self.bob, self.carol, supervisor)}
        self.replay_capture("sip_noanswer")  # alice -> bob
        call = self.calls()  # before the dispatch: the websockets then use the test cursor
        self.trigger_notification_dispatching(
            [*(self.alice | self.bob | self.carol | supervisor).partner_id,
             self.env.ref("asterisk_calls.group_asterisk_supervisor")]
        )  # fmt: skip
        for user, ws in sockets.items():
            live = self._received(ws, "asterisk_calls.live")
            if user == self.carol:
                self.assertEqual(live, [], "carol is not in the call")
            else:
                self.assertTrue(live, user.name)
                self.assertIn(call.id, live[-1]["call_ids"])

    def test_a_phone_ringing_at_a_reconnect_pops_up_and_closes_when_gone(self):
        """Odoo comes back while a phone rings: its user still gets the popup;
        the call ends before the next reconnect: the popup closes."""
        self.pbx_bob.channel_ids = [(0, 0, {"name": "Local/agent2@demo"})]
        ws = self._listen(self.bob)
        self.Call._resync(self.server, RINGING_AT_RECONNECT, 1796241778.0)
        self.trigger_notification_dispatching(self.bob.partner_id)
        (ring,) = self._received(ws, "asterisk_calls.ring")
        call = self.calls()
        self.assertEqual((ring["call_id"], call.status), (call.id, "ringing"))
        self.assertEqual(call.user_ids, self.bob)
        self.assertIn("Rang Bob (Local/agent2@demo): popup sent", str(call.timeline_html))

        self.Call._resync(self.server, [], 1796241790.0)
        self.trigger_notification_dispatching(self.bob.partner_id)
        self.assertEqual([e["call_id"] for e in self._received(ws, "asterisk_calls.ring_end")],
                         [call.id])  # fmt: skip
        self.assertEqual(call.status, "no_answer")
        self.assertEqual(call.missed_user_ids, self.bob)


def _show_channel(channel, state, uniqueid, app, data, exten="305", **more):
    return {
        "Event": "CoreShowChannel",
        "Channel": channel,
        "ChannelState": {"Ringing": "5", "Ring": "4"}[state],
        "ChannelStateDesc": state,
        "CallerIDNum": "<unknown>",
        "CallerIDName": "<unknown>",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Context": "demo",
        "Exten": exten,
        "Priority": "1",
        "Uniqueid": uniqueid,
        "Linkedid": "1796241776.0",
        "Application": app,
        "ApplicationData": data,
        "Duration": "00:00:02",
        "BridgeId": "",
        **more,
    }


# What Asterisk 20 lists while Local/305 (an Originate) dials Local/agent2@demo,
# which rings (``Ringing()``, then waits): read from a real PBX.
RINGING_AT_RECONNECT = [
    _show_channel("Local/305@demo-00000000;1", "Ringing", "1796241776.0", "AppDial2",
                  "(Outgoing Line)"),
    _show_channel("Local/305@demo-00000000;2", "Ring", "1796241776.1", "Dial",
                  "Local/agent2@demo,30"),
    _show_channel("Local/agent2@demo-00000001;1", "Ringing", "1796241776.2", "AppDial",
                  "(Outgoing Line)", CallerIDNum="305"),
    _show_channel("Local/agent2@demo-00000001;2", "Ring", "1796241776.3", "Wait", "20",
                  exten="agent2", ConnectedLineNum="305"),
]  # fmt: skip
