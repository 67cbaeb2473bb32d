import json
from contextlib import contextmanager
from datetime import datetime
from unittest.mock import patch

import pytz

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from odoo.addons.asterisk_common.tests.screenshots import TourScreenshots

from ..models import asterisk_base_live_status as live
from ..models.asterisk_base_live_status import ACTIONS, Throttle, parse_live_status

ASK = "odoo.addons.asterisk_base.models.asterisk_base_live_status.AsteriskServer._live_status_ask"
HOSTILE = '<img src=x onerror="window.__pbx_xss=1">'


def done(action, events=(), **response):
    """An answered action as the worker stores it (AmiReply.to_dict)."""
    response = {"Response": "Success", **response}
    reply = {"action": action, "ok": True, "response": response, "events": list(events)}
    return {"state": "done", "reply": reply, "error": False}


def failed(action, error):
    reply = {"action": action, "ok": False, "response": {"Response": "Error", "Message": error}}
    return {"state": "failed", "reply": dict(reply, events=[]), "error": error}


def channel(name, state, num, cid_name, uniqueid, app="Dial", data="", bridge=""):
    """A CoreShowChannel item as in the capture g_command_coreshowchannels_active_call."""
    return {
        "Event": "CoreShowChannel",
        "ActionID": "odoo-1",
        "Channel": name,
        "ChannelState": "6" if state == "Up" else "5",
        "ChannelStateDesc": state,
        "CallerIDNum": num,
        "CallerIDName": cid_name,
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Language": "en",
        "AccountCode": "",
        "Context": "demo",
        "Exten": "600",
        "Priority": "3",
        "Uniqueid": uniqueid,
        "Linkedid": uniqueid,
        "Application": app,
        "ApplicationData": data,
        "Duration": "00:00:12",
        "BridgeId": bridge,
    }


def peer(name, address, port, status="Unmonitored", dynamic="yes"):
    """A PeerEntry item as in the capture l_sip_register_ok_and_unregister."""
    return {
        "Event": "PeerEntry",
        "Channeltype": "SIP",
        "ObjectName": name,
        "ChanObjectType": "peer",
        "IPaddress": address,
        "IPport": str(port),
        "Dynamic": dynamic,
        "Status": status,
        "Description": "",
    }


def queue_status(callers=()):
    """QueueStatus of a queue with a busy member, a paused one and waiting callers."""
    events = [
        {"Event": "QueueParams", "Queue": "support", "Max": "0", "Strategy": "ringall",
         "Calls": str(len(callers)), "Holdtime": "4", "TalkTime": "60", "Completed": "7",
         "Abandoned": "2", "ServiceLevel": "0", "ServicelevelPerf": "0.0", "Weight": "0"},
        {"Event": "QueueMember", "Queue": "support", "Name": "Agent One",
         "Location": "Local/agent1@demo/n", "StateInterface": "Local/agent1@demo/n",
         "Membership": "static", "Penalty": "0", "CallsTaken": "3", "InCall": "1",
         "Status": "2", "Paused": "0", "PausedReason": ""},
        {"Event": "QueueMember", "Queue": "support", "Name": "Agent Two",
         "Location": "SIP/bob", "StateInterface": "SIP/bob", "Membership": "dynamic",
         "CallsTaken": "0", "InCall": "0", "Status": "1", "Paused": "1",
         "PausedReason": "lunch"},
    ]  # fmt: skip
    for position, (name, num, wait) in enumerate(callers, 1):
        events.append(
            {"Event": "QueueEntry", "Queue": "support", "Position": str(position),
             "Channel": f"SIP/{num}-0000000{position}", "Uniqueid": f"17.{position}",
             "CallerIDNum": num, "CallerIDName": name, "Wait": str(wait), "Priority": "0"}
        )  # fmt: skip
    events.append({"Event": "QueueStatusComplete", "EventList": "Complete"})
    return events


def endpoint(name, contacts, state, channels=0):
    return {
        "Event": "EndpointList",
        "ObjectType": "endpoint",
        "ObjectName": name,
        "Transport": "",
        "Aor": name,
        "Auths": "",
        "OutboundAuths": "",
        "Contacts": contacts,
        "DeviceState": state,
        "ActiveChannels": str(channels),
    }


def pbx(**overrides):
    """``{action: result}`` of a busy Asterisk 20 with chan_sip and PJSIP."""
    results = {
        "CoreSettings": done(
            "CoreSettings", AMIversion="9.0.0", AsteriskVersion="20.9.3", SystemName="pbx1"
        ),
        "CoreStatus": done(
            "CoreStatus",
            CoreStartupDate="2026-11-26",
            CoreStartupTime="13:00:00",
            CoreReloadDate="2026-11-26",
            CoreReloadTime="14:00:00",
            CoreCurrentCalls="1",
            CoreProcessedCalls="42",
        ),
        "CoreShowChannels": done(
            "CoreShowChannels",
            [
                channel(
                    "SIP/alice-00000001", "Up", "alice", HOSTILE, "1795.1", "Queue", "support,,,,30"
                ),
                channel(
                    "Local/agent1@demo-00000001;1",
                    "Ringing",
                    "alice",
                    "Alice",
                    "1795.2",
                    "AppQueue",
                    "(Outgoing Line)",
                ),
                {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "2"},
            ],  # fmt: skip
        ),
        "SIPpeers": done(
            "SIPpeers",
            [
                peer("bob", "127.0.0.1", 5070, "OK (5 ms)", dynamic="no"),
                peer("alice", "127.0.0.1", 5061),
                peer("carol", "-none-", 0, "UNKNOWN"),
                peer("dave", "10.0.0.7", 5060, "LAGGED (2500 ms)"),
                peer("erin", "10.0.0.8", 5060, "UNREACHABLE"),
                {"Event": "PeerlistComplete", "EventList": "Complete", "ListItems": "5"},
            ],
        ),
        # As Asterisk 20 lists them (tests/captures README, PJSIP): every
        # endpoint, the contacts of its AORs static or registered.
        "PJSIPShowEndpoints": done(
            "PJSIPShowEndpoints",
            [
                endpoint("dave", "dave/sip:dave@127.0.0.1:5072,", "Not in use"),
                endpoint("erin", "", "Unavailable"),
                endpoint("frank", "frank/sip:frank@10.0.0.9:5062,", "In use", channels=1),
                endpoint("gina", "gina/sip:gina@10.0.0.10:5060,", "Unavailable"),
                {"Event": "EndpointListComplete", "EventList": "Complete", "ListItems": "4"},
            ],
        ),
        "PJSIPShowContacts": done(
            "PJSIPShowContacts",
            [
                {
                    "Event": "ContactList",
                    "ObjectType": "contact",
                    "ObjectName": "frank;@3ab1c0ffee",
                    "Endpoint": "frank",
                    "Uri": "sip:frank@10.0.0.9:5062",
                    "UserAgent": "Yealink T46",
                    "Status": "Reachable",
                    "RoundtripUsec": "12345",
                },
                {
                    "Event": "ContactList",
                    "ObjectType": "contact",
                    "ObjectName": "gina;@77aa",
                    "Endpoint": "gina",
                    "Uri": "sip:gina@10.0.0.10:5060",
                    "UserAgent": "",
                    "Status": "Unreachable",
                    "RoundtripUsec": "N/A",
                },
            ],  # fmt: skip
        ),
        "DeviceStateList": done(
            "DeviceStateList",
            [
                {"Event": "DeviceStateChange", "Device": "SIP/alice", "State": "INUSE"},
                {"Event": "DeviceStateChange", "Device": "Queue:support", "State": "RINGING"},
                {"Event": "DeviceStateChange", "Device": "SIP/carol", "State": "UNAVAILABLE"},
                {"Event": "DeviceStateListComplete", "EventList": "Complete"},
            ],
        ),
        "QueueStatus": done("QueueStatus", queue_status([(HOSTILE, "alice", 7)])),
        "QueueSummary": done(
            "QueueSummary",
            [
                {
                    "Event": "QueueSummary",
                    "Queue": "support",
                    "LoggedIn": "2",
                    "Available": "0",
                    "Callers": "1",
                    "HoldTime": "4",
                    "TalkTime": "60",
                    "LongestHoldTime": "7",
                },
            ],  # fmt: skip
        ),
    }
    results.update(overrides)
    return results


def fake_ask(results_list):
    """``_live_status_ask`` answering from ``results_list`` (one dict per call,
    the last one repeated); records the actions asked."""
    asked = []

    def ask(server, actions, timeout=None):
        asked.append([a["Action"] for a in actions])
        results = results_list[min(len(asked), len(results_list)) - 1]
        return [
            results.get(a["Action"], failed(a["Action"], "Invalid/unknown command"))
            for a in actions
        ]

    return asked, patch(ASK, ask)


class TestLiveStatusParsing(TransactionCase):
    def test_a_busy_pbx(self):
        started = pytz.timezone("Europe/Paris").localize(datetime(2026, 11, 26, 13, 0))
        now = started.timestamp() + 3 * 86400 + 5
        status = parse_live_status(self.env, pbx(), "Europe/Paris", now)
        self.assertEqual(status["errors"], [])
        self.assertTrue(all(s["state"] == "ok" for s in status["sections"].values()))
        system = status["system"]
        self.assertEqual(
            (system["version"], system["ami_version"], system["system_name"]),
            ("20.9.3", "9.0.0", "pbx1"),
        )
        # The PBX prints local times: Paris' 13:00 is 12:00 UTC.
        self.assertEqual(system["uptime"], 3 * 86400 + 5)
        self.assertEqual(system["since_reload"], 3 * 86400 + 5 - 3600)
        self.assertEqual((system["current_calls"], system["processed_calls"]), (1, 42))

        first, second = status["channels"]
        self.assertEqual(first["caller_name"], HOSTILE, "data, escaped by the page")
        self.assertEqual((first["state"], first["level"]), ("Up", "success"))
        self.assertEqual((first["application"], first["data"]), ("Queue", "support,,,,30"))
        self.assertEqual((second["state"], second["level"]), ("Ringing", "info"))
        self.assertEqual(len(status["channels"]), 2, "the Complete event is no channel")

        peers = {p["name"]: p for p in status["sip_peers"]}
        self.assertEqual(list(peers), ["alice", "bob", "carol", "dave", "erin"])
        self.assertEqual(
            {name: (p["status"], p["level"]) for name, p in peers.items()},
            {
                "alice": ("Unmonitored", "muted"),
                "bob": ("OK (5 ms)", "success"),
                "carol": ("Not registered", "danger"),
                "dave": ("LAGGED (2500 ms)", "warning"),
                "erin": ("UNREACHABLE", "danger"),
            },
        )
        self.assertEqual((peers["bob"]["address"], peers["bob"]["port"]), ("127.0.0.1", 5070))
        self.assertFalse(peers["carol"]["registered"])
        self.assertEqual(peers["carol"]["address"], "")

        frank, gina = status["pjsip_contacts"]
        self.assertEqual((frank["aor"], frank["endpoint"]), ("frank", "frank"))
        self.assertEqual((frank["level"], frank["rtt_ms"]), ("success", 12.3))
        self.assertEqual((gina["level"], gina["rtt_ms"]), ("danger", False))

        endpoints = {e["name"]: e for e in status["pjsip_endpoints"]}
        self.assertEqual(
            {n: (e["state"], e["level"]) for n, e in endpoints.items()},
            {
                "dave": ("Not in use", "success"),
                "erin": ("Unavailable", "danger"),
                "frank": ("In use", "warning"),
                "gina": ("Unavailable", "danger"),
            },
        )
        self.assertEqual(
            endpoints["dave"]["contacts"], [{"uri": "sip:dave@127.0.0.1:5072", "static": True}]
        )
        self.assertEqual(endpoints["erin"]["contacts"], [], "never registered: still listed")
        (registered,) = endpoints["frank"]["contacts"]  # once, with its reachability
        self.assertEqual((registered["status"], registered["rtt_ms"]), ("Reachable", 12.3))
        self.assertEqual(endpoints["frank"]["channels"], 1)

        self.assertEqual(
            [(d["device"], d["raw"], d["level"]) for d in status["devices"]],
            [
                ("Queue:support", "RINGING", "info"),
                ("SIP/alice", "INUSE", "warning"),
                ("SIP/carol", "UNAVAILABLE", "danger"),
            ],
        )
        self.assertEqual(status["devices"][1]["state"], "In use")

        (queue,) = status["queues"]
        self.assertEqual(
            {k: queue[k] for k in ("name", "strategy", "calls", "completed", "abandoned")},
            {"name": "support", "strategy": "ringall", "calls": 1, "completed": 7, "abandoned": 2},
        )
        self.assertEqual((queue["logged_in"], queue["available"], queue["longest_hold"]), (2, 0, 7))
        one, two = queue["members"]
        self.assertEqual(
            (one["name"], one["state"], one["level"]), ("Agent One", "In use", "warning")
        )
        self.assertTrue(one["in_call"])
        self.assertEqual(
            (two["state"], two["paused"], two["paused_reason"]), ("Not in use", True, "lunch")
        )
        self.assertEqual(two["level"], "warning", "paused: not available")
        (caller,) = queue["callers"]
        self.assertEqual(
            (caller["position"], caller["caller_num"], caller["wait"]), (1, "alice", 7)
        )
        json.dumps(status)  # what the page gets

    def test_what_the_pbx_lacks_or_refuses(self):
        status = parse_live_status(
            self.env,
            pbx(
                # A PJSIP-only PBX: chan_sip not loaded; nobody registered.
                SIPpeers=failed(
                    "SIPpeers",
                    "Invalid/unknown command: SIPpeers. Use Action: ListCommands to show "
                    "available commands.",
                ),
                PJSIPShowContacts=failed("PJSIPShowContacts", "No Contacts found\n"),
                PJSIPShowEndpoints=failed("PJSIPShowEndpoints", "No endpoints found\n"),
                QueueSummary=failed("QueueSummary", "Permission denied"),
            ),
        )
        sections = status["sections"]
        self.assertEqual(sections["sip_peers"]["state"], "missing")
        self.assertIn("chan_sip", sections["sip_peers"]["message"])
        self.assertEqual(sections["pjsip_contacts"]["state"], "ok", "no contact is no error")
        self.assertEqual(status["pjsip_contacts"], [])
        self.assertEqual(sections["pjsip_endpoints"]["state"], "ok")
        self.assertEqual(status["pjsip_endpoints"], [])
        self.assertEqual(sections["queues"]["state"], "ok", "QueueStatus answered")
        self.assertIs(status["queues"][0]["logged_in"], False)
        (error,) = status["errors"]
        self.assertIn("QueueSummary: Permission denied", error)
        self.assertIn("manager.conf", error)

    def test_a_pbx_that_answers_nothing(self):
        results = {a: failed(a, "Server X is not connected: refused") for a in ACTIONS}
        status = parse_live_status(self.env, results)
        self.assertEqual(
            status["errors"], [", ".join(ACTIONS) + ": Server X is not connected: refused"]
        )
        results = {a: {"state": "timeout", "error": "No answer in 5 s.", "reply": False}
                   for a in ACTIONS}  # fmt: skip
        status = parse_live_status(self.env, results)
        self.assertIs(status["system"]["uptime"], False)
        self.assertEqual(status["sections"]["channels"]["state"], "error")
        self.assertEqual(status["channels"], [])


class TestLiveStatus(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The page's watch is committed in a cursor of its own: in the test's.
        cls.registry.enter_test_mode(cls.cr)
        cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.server = cls.env["asterisk_common.server"].create(
            {"name": "Live PBX", "host": "192.0.2.30", "username": "odoo", "secret": "s",
             "tz": "UTC"}
        )  # fmt: skip
        cls.server.state = "connected"
        cls.admin_user = new_test_user(
            cls.env, "live_boss", groups="base.group_user,asterisk_common.group_asterisk_admin"
        )
        cls.pbx_user = new_test_user(
            cls.env, "live_agent", groups="base.group_user,asterisk_common.group_asterisk_user"
        )
        cls.employee = new_test_user(cls.env, "live_employee", groups="base.group_user")
        cls.admins = cls.env.ref("asterisk_common.group_asterisk_admin")

    def setUp(self):
        super().setUp()
        for state in (live._throttle, live._watches):
            state.reset()
            self.addCleanup(state.reset)

    def test_admins_get_the_status_in_one_round_trip(self):
        asked, fake = fake_ask([pbx()])
        with fake:
            status = self.server.with_user(self.admin_user).live_status()
        self.assertEqual(asked, [list(ACTIONS)], "every action at once")
        self.assertEqual(status["server"]["id"], self.server.id)
        self.assertEqual(status["system"]["version"], "20.9.3")
        self.assertEqual(len(status["channels"]), 2)
        json.dumps(status)

    def test_a_disconnected_pbx_is_not_asked(self):
        self.server.write({"state": "disconnected", "last_error": "Connection refused"})
        asked, fake = fake_ask([pbx()])
        with fake:
            status = self.server.with_user(self.admin_user).live_status()
        self.assertEqual(asked, [])
        self.assertIn("Connection refused", status["errors"][0])
        self.assertEqual(status["channels"], [])

    def test_only_pbx_admins_see_it(self):
        asked, fake = fake_ask([pbx()])
        with fake:
            for user in (self.pbx_user, self.employee):
                with self.assertRaises(AccessError, msg=user.login):
                    self.server.with_user(user).live_status()
                with self.assertRaises(AccessError, msg=user.login):
                    self.server.with_user(user).live_status_watch()
        self.assertEqual(asked, [], "the PBX was not asked")
        self.assertFalse(self.watch_row(), "nobody watches")
        # Nobody but the worker calls the handler (it would let anyone ping admins).
        with self.assertRaises(AccessError):
            self.env["asterisk_base.live_status"].with_user(self.admin_user).ami_live_status_events(
                [{"Event": "PeerStatus", "_server_id": self.server.id}]
            )

    def test_the_action_of_the_server_form(self):
        action = self.server.with_user(self.admin_user).action_open_live_status()
        self.assertEqual(action["tag"], "asterisk_base.live_status")
        self.assertEqual(action["params"], {"server_id": self.server.id})

    def test_events_map_entries(self):
        names = set(
            self.env["asterisk_common.event"]
            .search([("model", "=", "asterisk_base.live_status")])
            .mapped("name")
        )
        wanted = "PeerStatus ContactStatus DeviceStateChange QueueMemberStatus"
        for name in f"{wanted} QueueCallerJoin QueueCallerLeave".split():
            self.assertIn(name, names)
        # The call tracker's busiest events: a second handler on each would cut its
        # batches in two (the device states say the same for the page).
        self.assertFalse({"Newchannel", "Newstate", "Hangup"} & names)

    # -- the bus notification, throttled ---------------------------------------------

    def bus_messages(self):
        """The live status messages in bus.bus: ``[(channel, server_id)]``."""
        self.env.cr.precommit.run()  # what the commit would do
        found = []
        # This test's own: a database used before holds older messages.
        domain = [("id", ">", self.bus_before)]
        for row in self.env["bus.bus"].sudo().search(domain, order="id"):
            message = json.loads(row.message)
            if message["type"] == live.BUS_TYPE:
                found.append((json.loads(row.channel), message["payload"]["server_id"]))
        return found

    def handle(self, *server_ids):
        events = [{"Event": "PeerStatus", "Peer": "SIP/alice", "_server_id": i} for i in server_ids]
        self.env["asterisk_base.live_status"].sudo().ami_live_status_events(events)

    def watch_row(self, server=None):
        self.env.cr.execute(
            "SELECT watched_until FROM asterisk_base_live_status_watch WHERE server_id = %s",
            [(server or self.server).id],
        )
        return [until for (until,) in self.env.cr.fetchall()]

    def test_events_notify_pbx_admins_at_most_once_a_second(self):
        self.bus_before = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id or 0
        other = self.server.copy({"name": "Other PBX"})
        for server in self.server | other:
            server.with_user(self.admin_user).live_status_watch()
        clock = [1000.0]
        scheduled = []
        throttle = Throttle(1.0, clock=lambda: clock[0])
        schedule = patch.object(live, "_schedule", lambda *args: scheduled.append(args))

        @contextmanager
        def cursor():
            yield self.env.cr

        registry = patch.object(
            live, "Registry", lambda dbname: type("R", (), {"cursor": staticmethod(cursor)})
        )
        with patch.object(live, "_throttle", throttle), schedule, registry:
            self.handle(self.server.id, self.server.id)  # one batch: one message
            admins = [self.env.cr.dbname, "res.groups", self.admins.id]
            self.assertEqual(self.bus_messages(), [(admins, self.server.id)])
            clock[0] += 0.3
            self.handle(self.server.id, other.id)  # the other server has its own window
            clock[0] += 0.3
            self.handle(self.server.id)
            self.assertEqual(len(self.bus_messages()), 2)
            # The last change is not lost: one trailing message at the window's end.
            self.assertEqual(len(scheduled), 1)
            delay, func, dbname, server_id = scheduled[0]
            self.assertAlmostEqual(delay, 0.7)
            self.assertEqual(
                (func, dbname, server_id),
                (live._trailing_notify, self.env.cr.dbname, self.server.id),
            )
            clock[0] += 0.7
            func(dbname, server_id)  # the timer goes off
            self.assertEqual(self.bus_messages()[-1], (admins, self.server.id))
            self.assertEqual(len(self.bus_messages()), 3)
            # Right after it, a new change waits for the next window again.
            clock[0] += 0.1
            self.handle(self.server.id)
            self.assertEqual(len(self.bus_messages()), 3)
            self.assertAlmostEqual(scheduled[-1][0], 0.9)
            clock[0] += 0.9
            scheduled[-1][1](dbname, server_id)
            self.assertEqual(len(self.bus_messages()), 4)
            # Long after, the next one goes at once.
            clock[0] += 5
            self.handle(self.server.id)
            self.assertEqual(len(self.bus_messages()), 5)
        self.assertEqual(len(scheduled), 2)

    def test_only_open_pages_are_told(self):
        self.bus_before = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id or 0
        admins = [self.env.cr.dbname, "res.groups", self.admins.id]
        self.handle(self.server.id)
        self.assertEqual(self.bus_messages(), [], "no page open: no message")
        # The page opens: its first fetch says so, and the next change is told.
        live._throttle.reset()
        with fake_ask([pbx()])[1]:
            self.server.with_user(self.admin_user).live_status()
        self.handle(self.server.id)
        self.assertEqual(self.bus_messages(), [(admins, self.server.id)])
        # Its heartbeats, from every tab, rewrite the row once per heartbeat.
        (until,) = self.watch_row()
        self.server.with_user(self.admin_user).live_status_watch()
        self.assertEqual(self.watch_row(), [until], "written less than a heartbeat ago")
        self.env.cr.execute(
            "UPDATE asterisk_base_live_status_watch SET watched_until = watched_until"
            " - make_interval(secs => %s)",
            [live.WATCH_HEARTBEAT + 1],
        )
        (until,) = self.watch_row()
        self.assertEqual(
            self.server.with_user(self.admin_user).live_status_watch(), live.WATCH_HEARTBEAT
        )
        self.assertGreater(self.watch_row()[0], until, "a heartbeat later: extended")
        # The page closed WATCH_SECONDS ago: the next change is not told.
        self.env.cr.execute(
            "UPDATE asterisk_base_live_status_watch SET watched_until = now() AT TIME ZONE 'UTC'"
            " - interval '1 second'"
        )
        live._throttle.reset()
        live._watches.reset()  # the worker's memory of the watch ran out too
        self.handle(self.server.id)
        self.assertEqual(len(self.bus_messages()), 1)

    def test_watch_cache(self):
        clock = [0.0]
        cache = live.WatchCache(clock=lambda: clock[0])
        reads = []

        def left(seconds):
            return lambda: reads.append(seconds) or seconds

        self.assertFalse(cache.watched("a", left(None)))
        self.assertFalse(cache.watched("a", left(-3.0)))
        self.assertEqual(reads, [None, -3.0], "a closed page is read again each time")
        self.assertTrue(cache.watched("a", left(100.0)))
        clock[0] = 99.0
        self.assertTrue(cache.watched("a", left(0)))
        self.assertEqual(len(reads), 3, "an open page is not read again until it may close")
        clock[0] = 100.5
        self.assertFalse(cache.watched("a", left(0)))
        self.assertFalse(cache.watched("b", left(None)), "one entry per server")

    def test_throttle(self):
        clock = [0.0]
        throttle = Throttle(1.0, clock=lambda: clock[0])
        self.assertEqual(throttle.hit("a"), 0.0)
        self.assertEqual(throttle.hit("b"), 0.0)
        clock[0] = 0.25
        self.assertEqual(throttle.hit("a"), 0.75)
        self.assertIsNone(throttle.hit("a"), "its trailing one covers it")
        clock[0] = 1.0
        self.assertIsNone(throttle.hit("a"), "still scheduled")
        throttle.fired("a")
        clock[0] = 1.5
        self.assertEqual(throttle.hit("a"), 0.5)
        clock[0] = 3.0
        throttle.fired("a")
        clock[0] = 4.5
        self.assertEqual(throttle.hit("a"), 0.0)


@tagged("post_install", "-at_install")
class TestLiveStatusTour(TourScreenshots, HttpCase):
    def test_live_status_tour(self):
        server = self.env["asterisk_common.server"].create(
            {"name": "Tour Live PBX", "host": "192.0.2.31", "username": "odoo", "secret": "s"}
        )
        server.state = "connected"
        admin = self.env.ref("base.user_admin")
        admin.groups_id |= self.env.ref("asterisk_common.group_asterisk_admin")
        for state in (live._throttle, live._watches):
            state.reset()
            self.addCleanup(state.reset)
        # First answer: bob's phone is not registered, and while the page loads
        # it registers (PeerStatus); the second answer shows it registered.
        before = pbx(
            SIPpeers=done("SIPpeers", [peer("bob", "-none-", 0, "UNKNOWN")]),
            PJSIPShowContacts=failed("PJSIPShowContacts", "No Contacts found\n"),
        )
        after = pbx(
            SIPpeers=done("SIPpeers", [peer("bob", "127.0.0.1", 5070, "OK (5 ms)")]),
            PJSIPShowContacts=failed("PJSIPShowContacts", "No Contacts found\n"),
        )
        asked = []

        def ask(server_, actions, timeout=None):
            asked.append([a["Action"] for a in actions])
            if len(asked) == 1:
                server_.env["asterisk_base.live_status"].sudo().ami_live_status_events(
                    [{"Event": "PeerStatus", "Peer": "SIP/bob", "PeerStatus": "Registered",
                      "_server_id": server_.id}]
                )  # fmt: skip
            results = before if len(asked) == 1 else after
            return [results[a["Action"]] for a in actions]

        watched = []
        watch = live.AsteriskServer.live_status_watch

        def heartbeat(server_):
            watched.append(server_.id)
            return watch(server_)

        heartbeats = patch.object(live.AsteriskServer, "live_status_watch", heartbeat)
        with patch(ASK, ask), patch.object(live, "WATCH_HEARTBEAT", 1), heartbeats:
            self.start_tour(
                f"/odoo/action-asterisk_common.asterisk_common_server_action/{server.id}",
                "asterisk_base_live_status",
                login="admin",
            )
        self.assertEqual(len(asked), 2, "fetched on load and once on the bus message: no polling")
        self.assertIn(server.id, watched, "the open page's heartbeat")
