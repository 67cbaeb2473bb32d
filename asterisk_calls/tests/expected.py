"""What each real capture must produce: the calls, as a person would read them.

``users``/``answered_by``/``missed`` name the PBX users of :class:`CallsCase`
(alice = SIP/alice, bob = SIP/bob, carol = SIP/carol and Local/agent1@demo).
Durations are in seconds, checked within one second.
"""

CAPTURE_CALLS = {
    "a_originate_answered": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "9000",
            "caller_name": "Odoo",
            "called_number": "100",
            "users": [],
            "answered_by": None,
            "missed": [],
            "originated": True,
            "transferred": False,
            "ring_seconds": 0,
            "talk_seconds": 3,
            "channels": 2,
            "cdr": ("ANSWERED", 3, 3),
        }
    ],
    "b_originate_busy": [
        {
            "status": "busy",
            "direction": "internal",
            "caller_number": "9000",
            "caller_name": "Odoo",
            "called_number": "busy",
            "users": [],
            "answered_by": None,
            "missed": [],
            "originated": True,
            "transferred": False,
            "ring_seconds": 0,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("BUSY", 0, 0),
        }
    ],
    "c_originate_noanswer_timeout": [
        {
            "status": "no_answer",
            "direction": "internal",
            "caller_number": "9000",
            "caller_name": "Odoo",
            "called_number": "noanswer",
            "users": [],
            "answered_by": None,
            "missed": [],
            "originated": True,
            "transferred": False,
            "ring_seconds": 6,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("NO ANSWER", 6, 0),
        }
    ],
    "d_sip_call_alice_to_100": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "100",
            "users": ["alice"],
            "answered_by": None,
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 0,
            "talk_seconds": 3,
            "channels": 1,
            "cdr": ("ANSWERED", 3, 3),
        }
    ],
    "g_command_coreshowchannels_active_call": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "9000",
            "caller_name": "Odoo",
            "called_number": "300",
            "users": [],
            "answered_by": None,
            "missed": [],
            "originated": True,
            "transferred": False,
            "ring_seconds": 0,
            "talk_seconds": 2,
            "channels": 4,
            "cdr": ("ANSWERED", 2, 2),
        }
    ],
    "i1_redirect_bridged_channel": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "bob",
            "called_name": "Bob",
            "users": ["alice", "bob"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": True,
            "ring_seconds": 0,
            "talk_seconds": 5,
            "channels": 2,
            "cdr": ("ANSWERED", 2, 2),
        }
    ],
    "i2_blindtransfer": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "bob",
            "called_name": "Bob",
            "users": ["alice", "bob"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": True,
            "ring_seconds": 0,
            "talk_seconds": 5,
            "channels": 2,
            "cdr": ("ANSWERED", 2, 2),
        }
    ],
}
# The suite's own captures of the same Asterisk (tests/captures/), replayed
# with their recorded timing.
OWN_CAPTURE_CALLS = {
    "queue_answered": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "600",
            "called_name": "Carol",
            "queue": "support",
            "users": ["alice", "carol"],
            "answered_by": "carol",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 2,
            "talk_seconds": 5,
            "channels": 5,
            "cdr": ("ANSWERED", 5, 5),
        }
    ],
    "queue_abandoned": [
        {
            "status": "abandoned",
            "direction": "internal",
            "caller_number": "201",
            "called_number": "601",
            "queue": "nobody",
            "users": ["alice"],
            "answered_by": None,
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 3,
            "talk_seconds": 0,
            "channels": 5,
            "cdr": ("NO ANSWER", 3, 0),
        }
    ],
    "sip_busy": [
        {
            "status": "busy",
            "direction": "internal",
            "caller_number": "201",
            "called_number": "bob",
            "called_name": "Bob",
            "users": ["alice", "bob"],
            "answered_by": None,
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 0,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("BUSY", 0, 0),
        }
    ],
    "sip_noanswer": [
        {
            "status": "no_answer",
            "direction": "internal",
            "caller_number": "201",
            "called_number": "202",
            "called_name": "Bob",
            "users": ["alice", "bob"],
            "answered_by": None,
            "missed": ["bob"],
            "originated": False,
            "transferred": False,
            "ring_seconds": 5,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("NO ANSWER", 5, 0),
        }
    ],
    "sip_cancel": [
        {
            "status": "abandoned",
            "direction": "internal",
            "caller_number": "201",
            "called_number": "bob",
            "users": ["alice", "bob"],
            "answered_by": None,
            "missed": ["bob"],
            "originated": False,
            "transferred": False,
            "ring_seconds": 2,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("NO ANSWER", 2, 0),
        }
    ],
    "inbound_ring_group": [
        {
            "status": "answered",
            "direction": "inbound",
            "caller_number": "+33612345678",
            "called_number": "+33155512345",
            "called_name": "Bob",
            "users": ["bob", "carol"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 2,
            "talk_seconds": 4,
            "channels": 3,
            "cdr": ("ANSWERED", 6, 4),
        }
    ],
    # bob's follow-me (a Local channel) rang him out, then answered itself
    # (as voicemail does): not answered by a person, bob missed it.
    "inbound_followme_voicemail": [
        {
            "status": "no_answer",
            "direction": "inbound",
            "caller_number": "+33612345678",
            "called_number": "+33155512347",
            "called_name": "Bob",
            "users": ["bob"],
            "answered_by": None,
            "missed": ["bob"],
            "originated": False,
            "transferred": False,
            "ring_seconds": 4,
            "talk_seconds": 0,
            "channels": 4,
            "cdr": ("ANSWERED", 4, 1),
        }
    ],
    "attended_transfer": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "called_number": "bob",
            "called_name": "Bob",
            "users": ["alice", "bob"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": True,
            "ring_seconds": 1,
            "talk_seconds": 8,
            "channels": 4,
            "cdr": ("ANSWERED", 7, 6),
        }
    ],
    # Alice dials an outside number through the trunk: the number as a person
    # reads it (the server's country: France), the trunk's channel no party.
    "outbound_trunk": [
        {
            "status": "answered",
            "direction": "outbound",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "+33612345678",
            "called_name": "",
            "users": ["alice"],
            "answered_by": None,
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 1,
            "talk_seconds": 4,
            "channels": 2,
            "cdr": ("ANSWERED", 5, 4),
        }
    ],
    # The recorded line: the recording changes nothing of the call.
    "recorded_inbound": [
        {
            "status": "answered",
            "direction": "inbound",
            "caller_number": "+33612345678",
            "called_number": "+33155512346",
            "called_name": "Bob",
            "users": ["bob"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 1,
            "talk_seconds": 4,
            "channels": 2,
            "cdr": ("ANSWERED", 5, 4),
        }
    ],
    "mixmonitor_action": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "bob",
            "called_name": "Bob",
            "users": ["alice", "bob"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 1,
            "talk_seconds": 6,
            "channels": 2,
            "cdr": ("ANSWERED", 7, 6),
        }
    ],
    # bob's phone rings; carol's takes the call (Pickup(bob@demo), an Originate)
    "pickup_ringing": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "bob",
            "called_name": "Carol",
            "users": ["alice", "bob", "carol"],
            "answered_by": "carol",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 3,
            "talk_seconds": 4,
            "channels": 3,
            "cdr": ("ANSWERED", 7, 4),
        }
    ],
}
# 50 Originates of Local/100@demo with CallerID "Burst N" <700N>, Wait(1).
BURST = {
    "count": 50,
    "status": "answered",
    "direction": "internal",
    "called_number": "100",
    "talk_seconds": 1,
    "channels": 2,
}

# PJSIP phones (tests/captures/pjsip_*, chan_pjsip of the same Asterisk 20): the
# tests give alice the PJSIP endpoint erin and carol the endpoint dave.
PJSIP_DEVICES = {"alice": "PJSIP/erin", "carol": "PJSIP/dave"}
PJSIP_CAPTURE_CALLS = {
    "pjsip_call_answered": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "dave",
            "called_name": "Carol",
            "users": ["alice", "carol"],
            "answered_by": "carol",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 1,
            "talk_seconds": 3,
            "channels": 2,
            "cdr": ("ANSWERED", 4, 3),
        }
    ],
    "pjsip_call_busy": [
        {
            "status": "busy",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "dave",
            "called_name": "Carol",
            "users": ["alice", "carol"],
            "answered_by": None,
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 0,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("BUSY", 0, 0),
        }
    ],
    "pjsip_call_noanswer": [
        {
            "status": "no_answer",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "204",
            "called_name": "Carol",
            "users": ["alice", "carol"],
            "answered_by": None,
            "missed": ["carol"],
            "originated": False,
            "transferred": False,
            "ring_seconds": 5,
            "talk_seconds": 0,
            "channels": 2,
            "cdr": ("NO ANSWER", 5, 0),
        }
    ],
    # a ring group of a PJSIP phone (carol's) and a chan_sip one (bob's)
    "pjsip_ring_group": [
        {
            "status": "answered",
            "direction": "internal",
            "caller_number": "201",
            "caller_name": "Alice",
            "called_number": "davebob",
            "called_name": "Bob",
            "users": ["alice", "bob", "carol"],
            "answered_by": "bob",
            "missed": [],
            "originated": False,
            "transferred": False,
            "ring_seconds": 2,
            "talk_seconds": 3,
            "channels": 3,
            "cdr": ("ANSWERED", 5, 3),
        }
    ],
}

# Captures without calls (security events, config actions, registrations).
NO_CALLS = (
    "e_failed_ami_logins_watcher",
    "f_failed_sip_register",
    "h_getconfig_updateconfig",
    "l_sip_register_ok_and_unregister",
)
