"""The worker's call router on the real captures: every call event lands on
its call's key, including those that carry no Linkedid."""

import os

import pytest

from odoo.addons.asterisk_agent_worker.router import CallRouter, device_of
from odoo.addons.asterisk_common.tests.captures import parse_capture

from .conftest import CAPTURES

pytestmark = pytest.mark.skipif(not os.path.isdir(CAPTURES), reason="no ../shared/ami-captures")
# Events that belong to no call.
CALLLESS = {
    "FullyBooted", "SuccessfulAuth", "ChallengeSent", "InvalidPassword", "InvalidAccountID",
    "ChallengeResponseFailed", "PeerStatus", "Registry", "DeviceStateChange", "BridgeCreate",
    "BridgeDestroy", "CoreShowChannelsComplete", "StatusComplete", "BridgeListComplete",
    "ChannelsHungupListComplete", "ChannelHungup", "PeerlistComplete", "PeerEntry",
    "BridgeListItem", "Reload", "SIPpeers",
}  # fmt: skip


def routed(name):
    router = CallRouter()
    out = []
    for index, event in enumerate(parse_capture(os.path.join(CAPTURES, f"{name}.raw"))):
        out.append((event, router.route(event, float(index))))
    return out


def owner(event, linked):
    """The call an event is about, from the capture's own Uniqueid -> Linkedid."""
    for key in ("Linkedid", "DestLinkedid", "TransfererLinkedid"):
        if event.get(key):
            return event[key]
    for key in ("Uniqueid", "UniqueID", "LocalOneUniqueid"):
        if event.get(key) in linked:
            return linked[event[key]]
    return None


@pytest.mark.parametrize(
    "name",
    sorted(f[:-4] for f in os.listdir(CAPTURES) if f.endswith(".raw"))
    if os.path.isdir(CAPTURES)
    else [],
)
def test_every_call_event_is_routed_to_its_call(name):
    events = routed(name)
    linked = {}
    for event, _ in events:
        if event.get("Uniqueid") and event.get("Linkedid"):
            linked[event["Uniqueid"]] = event["Linkedid"]
    for event, key in events:
        if event["Event"] in CALLLESS:
            continue
        expected = owner(event, linked)
        if event["Event"] == "OriginateResponse" and expected is None:
            # A failed Originate: no id at all, only the device it rang.
            dest = {e["DestChannel"]: k for e, k in events if e["Event"] == "DialBegin"}
            expected = next(k for ch, k in dest.items() if device_of(ch) == event["Channel"])
        assert key == expected, (name, event)


def test_cdr_of_the_second_local_half_goes_to_the_call():
    events = routed("a_originate_answered")
    cdrs = [(e["UniqueID"], key) for e, key in events if e["Event"] == "Cdr"]
    assert cdrs == [("1795700267.2", "1795700267.2"), ("1795700267.3", "1795700267.2")]


def test_failed_originates_find_their_call():
    for name, linkedid in (
        ("b_originate_busy", "1795700273.4"),
        ("c_originate_noanswer_timeout", "1795700276.6"),
    ):
        response = [(e, k) for e, k in routed(name) if e["Event"] == "OriginateResponse"]
        assert response[0][0]["Uniqueid"] == "<unknown>"
        assert response[0][1] == linkedid


def test_channels_are_forgotten_after_their_hangup():
    router = CallRouter(keep_after_hangup=10.0)
    events = parse_capture(os.path.join(CAPTURES, "j_burst_50_originates.raw"))
    for event in events:
        router.route(event, 0.0)
    assert len(router) == 100  # 50 calls, two Local halves each
    router.route({"Event": "Hangup", "Uniqueid": "x", "Linkedid": "x"}, 11.0)
    assert len(router) == 1  # only the last one is kept, for its Cdr
    assert not router._originating and not router._responded


@pytest.mark.parametrize(
    "channel,device",
    [
        ("SIP/alice-0000000a", "SIP/alice"),
        ("PJSIP/my-phone-00000001", "PJSIP/my-phone"),
        ("Local/100@demo-00000001;2", "Local/100@demo"),
        ("Local/busy@demo", "Local/busy@demo"),
        ("IAX2/trunk-1234", "IAX2/trunk"),
        ("", ""),
    ],
)
def test_device_of(channel, device):
    assert device_of(channel) == device


def test_repeated_keys_take_their_first_value():
    """A frame repeating Uniqueid or Linkedid (a list in the event) is routed by
    the first value, as Asterisk reads a header, instead of failing the event."""
    router = CallRouter()
    router.route({"Event": "Newchannel", "Uniqueid": "1.1", "Linkedid": "1.1"})
    event = {"Event": "Newstate", "Uniqueid": ["1.1", "9.9"], "Linkedid": ["1.1", "2.2"]}
    assert router.route(event) == "1.1"
    assert router.route({"Event": "Hangup", "Uniqueid": ["1.1"], "Linkedid": []}) == "1.1"


def test_parking_events_follow_their_call():
    """ParkedCall & co. name the parked channel only with Parkee* keys."""
    path = os.path.join(os.path.dirname(__file__), "captures", "park_caller.raw")
    router = CallRouter()
    events = [(e, router.route(e, float(i))) for i, e in enumerate(parse_capture(path))]
    parking = [(e["Event"], key) for e, key in events if e["Event"].startswith("ParkedCall")]
    assert parking == [("ParkedCall", "1796269144.38"), ("ParkedCallGiveUp", "1796269144.38")]


def test_a_parked_call_taken_or_back_stays_its_call():
    """UnParkedCall names the parked channel (Parkee*) and the one that took
    it (Retriever*, of another call): it is routed to the parked call's."""
    for name, last in (("park_retrieve", "UnParkedCall"), ("park_timeout", "ParkedCallTimeOut")):
        path = os.path.join(os.path.dirname(__file__), "captures", f"{name}.raw")
        router = CallRouter()
        events = [(e, router.route(e, float(i))) for i, e in enumerate(parse_capture(path))]
        parking = [(e["Event"], key) for e, key in events if "Park" in e["Event"]]
        (parked_id,) = {e["ParkeeLinkedid"] for e, _key in events if e.get("ParkeeLinkedid")}
        assert [event for event, _key in parking] == ["ParkedCall", last], name
        assert {key for _event, key in parking} == {parked_id}, name


def test_events_of_two_calls_follow_the_other_one():
    """park_retrieve (Asterisk 20 and 22): the parked alice taken by carol's
    originated channel (UnParkedCall names both calls), whose channel then
    takes alice's linkedid (it moves): each time the router says that
    alice's call follows carol's, so the dispatcher can order them."""
    here = os.path.join(os.path.dirname(__file__), "captures")
    for path in (os.path.join(here, "park_retrieve.raw"),
                 os.path.join(here, "asterisk22", "park_retrieve.raw")):  # fmt: skip
        router = CallRouter()
        follows = []
        for i, event in enumerate(parse_capture(path)):
            router.route(event, float(i))
            follows += [(event["Event"], *pair) for pair in router.follows]
        (parked_id,) = {e["ParkeeLinkedid"] for e in parse_capture(path) if "ParkeeLinkedid" in e}
        carol = "odoo-9a8b7c6d5e4f"
        assert follows == [
            ("UnParkedCall", carol, parked_id),
            ("BridgeEnter", carol, parked_id),
        ], path


def test_a_pickup_goes_to_the_call_picked_up():
    """pickup_ringing (Asterisk 20 and 22): carol's phone picks up the call
    ringing on bob's; Pickup names carol's channel (Linkedid: her own call)
    and bob's (Target*): it is routed to the call picked up, after carol's."""
    here = os.path.join(os.path.dirname(__file__), "captures")
    for path in (os.path.join(here, "pickup_ringing.raw"),
                 os.path.join(here, "asterisk22", "pickup_ringing.raw")):  # fmt: skip
        router = CallRouter()
        for i, event in enumerate(parse_capture(path)):
            key = router.route(event, float(i))
            if event["Event"] == "Pickup":
                assert key == event["TargetLinkedid"] != event["Linkedid"], path
                assert router.follows == [(event["Linkedid"], key)], path
