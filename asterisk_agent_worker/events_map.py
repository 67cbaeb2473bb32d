"""The events map as the worker runs it: compiled once per change.

An entry's condition is compiled when the map is (re)loaded, never per event;
one refused by a stricter check than when it was saved never matches and says
why on its entry. The names of the map decide what Asterisk sends the session
(its ``Events`` classes and ``Filter``s) and what the client drops unread.
"""

import collections

from odoo.addons.asterisk_common.tools import compile_condition

from .router import ROUTING_EVENTS

# AMI event classes (manager.conf read=) of the events that maps name; an
# unknown name makes the worker subscribe to every class.
EVENT_CLASSES = {
    "call": {
        "Newchannel",
        "Newstate",
        "Hangup",
        "HangupRequest",
        "SoftHangupRequest",
        "DialBegin",
        "DialEnd",
        "DialState",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeMerge",
        "BlindTransfer",
        "AttendedTransfer",
        "NewCallerid",
        "NewConnectedLine",
        "NewAccountCode",
        "Hold",
        "Unhold",
        "OriginateResponse",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "LocalBridge",
        "LocalOptimizationBegin",
        "LocalOptimizationEnd",
        "Rename",
        "MixMonitorStart",
        "MixMonitorStop",
        "MixMonitorMute",
        "DTMFBegin",
        "DTMFEnd",
        "Pickup",
        "ChanSpyStart",
        "ChanSpyStop",
    },
    "dialplan": {"Newexten", "VarSet"},
    "cdr": {"Cdr"},
    "cel": {"CEL"},
    "security": {
        "InvalidPassword",
        "ChallengeResponseFailed",
        "InvalidAccountID",
        "FailedACL",
        "UnexpectedAddress",
        "ChallengeSent",
        "SuccessfulAuth",
        "RequestBadFormat",
        "RequestNotAllowed",
        "AuthMethodNotAllowed",
        "SessionLimit",
        "MemoryLimit",
        "LoadAverageLimit",
        "RequestNotSupported",
        "AuthRequestNotSupported",
        "InvalidTransport",
    },
    "system": {
        "PeerStatus",
        "ContactStatus",
        "Registry",
        "Reload",
        "Shutdown",
        "FullyBooted",
        "DeviceStateChange",
        "ExtensionStatus",
        "PresenceStatus",
    },
    "agent": {
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentDump",
        "AgentRingNoAnswer",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
        "QueueMemberRinginuse",
        "QueueMemberPenalty",
    },
    "user": {"UserEvent"},
}
_CLASS_OF = {name: cls for cls, names in EVENT_CLASSES.items() for name in names}


class Entry:
    """A compiled events map entry."""

    __slots__ = (
        "id",
        "name",
        "model",
        "method",
        "kind",
        "code",
        "delay",
        "errors",
        "last_error",
    )

    def __init__(self, row):
        self.id = row["id"]
        self.name = row["name"]
        self.model = row["model"]
        self.method = row["method"]
        # How the dispatcher calls the handler: (batch, independent), see Job.
        self.kind = (bool(row.get("batch")), bool(row.get("independent")))
        self.delay = row["delay"] or 0.0
        self.errors = 0
        self.last_error = None
        self.code = None
        if row["condition"]:
            try:
                self.code = compile_condition(row["condition"])
            except Exception as e:  # saved before a stricter check: never matches
                self.code = False
                self.last_error = f"condition refused: {e}"
                self.errors = 1


class EventsMap:
    def __init__(self, rows=()):
        self.by_name = collections.defaultdict(list)
        self.kinds = {}  # the handlers, (model, method) -> their kind
        self.entries = []
        for row in rows:
            entry = Entry(row)
            self.entries.append(entry)
            self.by_name[entry.name].append(entry)
            self.kinds[entry.model, entry.method] = entry.kind
        self.by_name = dict(self.by_name)
        # The router reads the channel events too, to place the events that
        # carry no Linkedid (Cdr, OriginateResponse...) in their call.
        self._wanted = frozenset(self.by_name) | {"UserEvent"}
        if self.by_name:
            self._wanted |= ROUTING_EVENTS
        self.names = sorted(self._wanted)

    def wanted(self, name):
        return name in self._wanted

    def event_classes(self):
        classes = {_CLASS_OF.get(name) for name in self.names}
        if None in classes:
            return "on"
        return sorted(classes)
