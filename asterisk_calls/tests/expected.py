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
# 50 Originates of Local/100@demo with CallerID "Burst N" <700N>, Wait(1).
BURST = {
    "count": 50,
    "status": "answered",
    "direction": "internal",
    "called_number": "100",
    "talk_seconds": 1,
    "channels": 2,
}
# Captures without calls (security events, config actions, registrations).
NO_CALLS = (
    "e_failed_ami_logins_watcher",
    "f_failed_sip_register",
    "h_getconfig_updateconfig",
    "l_sip_register_ok_and_unregister",
)
