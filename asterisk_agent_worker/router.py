"""Which call an AMI event belongs to.

Most call events carry the call's ``Linkedid``; some do not, and they must
still be handled in order with the rest of their call (same dispatch shard):

- ``Cdr`` names its channel by ``UniqueID`` only;
- ``OriginateResponse`` has a ``Uniqueid`` but no ``Linkedid`` on success, and
  neither on failure (``Uniqueid: <unknown>``, ``Channel: Local/busy@demo``);
- the ``DialBegin``/``DialEnd`` of an Originate have no calling channel, only
  ``DestUniqueid``/``DestLinkedid``;
- transfer, parking and pickup events name their channels with prefixed keys
  (``Pickup`` goes to the call picked up, ``Target*``, not to the picker's).

The router learns ``Uniqueid -> Linkedid`` from the events that carry both
(Asterisk moves a channel to the oldest linkedid of a bridge it joins, so the
last value wins), remembers the Originates still waiting for their response
per device, and forgets a channel some time after its ``Hangup`` (its ``Cdr``
comes shortly before or after it).

An event may concern two calls: a channel that joins an older call (it moves),
a transfer or a parked call taken (they name a channel of another call). Such
an event must be handled after the other call's earlier events, which are on
another dispatch shard: ``follows`` says which calls it follows, for
:meth:`~.dispatch.Dispatcher.link`.
"""

import collections
import time

# (uniqueid key, linkedid key) pairs found in call events.
PAIRS = (
    ("Uniqueid", "Linkedid"),
    ("DestUniqueid", "DestLinkedid"),
    ("TransfererUniqueid", "TransfererLinkedid"),
    ("TransfereeUniqueid", "TransfereeLinkedid"),
    ("OrigTransfererUniqueid", "OrigTransfererLinkedid"),
    ("SecondTransfererUniqueid", "SecondTransfererLinkedid"),
    ("TransferTargetUniqueid", "TransferTargetLinkedid"),
    ("ParkeeUniqueid", "ParkeeLinkedid"),
    ("RetrieverUniqueid", "RetrieverLinkedid"),
    ("TargetUniqueid", "TargetLinkedid"),
)
# Keys that name a channel without its linkedid, most specific first.
UNIQUE_KEYS = (
    "Uniqueid",
    "UniqueID",
    "DestUniqueid",
    "TransfererUniqueid",
    "OrigTransfererUniqueid",
    "TransfereeUniqueid",
    "LocalOneUniqueid",
    "LocalTwoUniqueid",
    "ParkeeUniqueid",
)
LINKED_KEYS = (
    "DestLinkedid",
    "TransfererLinkedid",
    "OrigTransfererLinkedid",
    "TransfereeLinkedid",
    "ParkeeLinkedid",
)
# Events the router reads even when the events map does not name them.
ROUTING_EVENTS = frozenset({"Newchannel", "DialBegin", "Hangup"})


def device_of(channel):
    """``SIP/alice-0000000a`` -> ``SIP/alice``; ``Local/100@demo-00000001;2`` ->
    ``Local/100@demo``; a name without a sequence suffix is returned as is."""
    if not channel:
        return ""
    base, sep, side = channel.rpartition(";")
    if sep and side.isdigit():
        channel = base
    head, sep, tail = channel.rpartition("-")
    if sep and "/" in head and tail and all(c in "0123456789abcdefABCDEF" for c in tail):
        return head
    return channel


def _known(value):
    return bool(value) and not value.startswith("<")


class CallRouter:
    """The call (linkedid) of each event of one AMI stream."""

    def __init__(self, keep_after_hangup=120.0, originate_timeout=600.0):
        self.keep_after_hangup = keep_after_hangup
        self.originate_timeout = originate_timeout
        self._linked = {}  # uniqueid -> linkedid
        self._ended = collections.deque()  # (hangup time, uniqueid)
        self._originating = collections.defaultdict(collections.deque)  # device -> (t, linkedid)
        self._responded = {}  # linkedid -> time: answered before its DialBegin came
        # (earlier call, later call) pairs of the last event: see the module doc
        self.follows = []
        self._moves = []  # (old, new linkedid) of the channels the last event moved
        self._named = []  # the linkedids the last event names

    def __len__(self):
        return len(self._linked)

    def route(self, event, now=None):
        """The linkedid of the call ``event`` belongs to ("" if none), after
        learning what the event says about its channels."""
        now = time.monotonic() if now is None else now
        if any(type(value) is list for value in event.values()):
            # A key repeated in the frame (a list): its first value, as Asterisk
            # itself reads a header (astman_get_header). Values must be hashable here.
            event = {k: v[0] if type(v) is list and v else v for k, v in event.items()}
        self._learn(event, now)
        key = self._route(event, now)
        follows = self._moves  # (old, new): never equal
        for linkedid in self._named:
            if linkedid != key and key:
                follows.append((linkedid, key))
        self.follows = list(dict.fromkeys(follows)) if len(follows) > 1 else follows
        return key

    def _learn(self, event, now):
        linked = self._linked
        self._moves, self._named = [], []
        for ukey, lkey in PAIRS:
            uniqueid = event.get(ukey)
            if uniqueid:
                linkedid = event.get(lkey)
                if linkedid:
                    self._named.append(linkedid)
                    if (old := linked.get(uniqueid)) != linkedid:
                        linked[uniqueid] = linkedid
                        if old:
                            self._moves.append((old, linkedid))
        name = event.get("Event")
        if name == "Hangup":
            self._ended.append((now, event.get("Uniqueid")))
            self._forget(now)
        elif name == "DialBegin" and not event.get("Channel") and event.get("DestLinkedid"):
            # An Originate dialling its first channel: its OriginateResponse
            # may come back with no id at all, only the dialled device.
            linkedid = event["DestLinkedid"]
            if self._responded.pop(linkedid, None) is None:
                device = device_of(event.get("DestChannel"))
                self._originating[device].append((now, linkedid))

    def _route(self, event, now):
        if event.get("Event") == "Pickup" and event.get("TargetLinkedid"):
            return event["TargetLinkedid"]
        linkedid = event.get("Linkedid")
        if linkedid:
            return linkedid
        linked = self._linked
        for key in UNIQUE_KEYS:
            uniqueid = event.get(key)
            if uniqueid and uniqueid in linked:
                linkedid = linked[uniqueid]
                break
        else:
            linkedid = next((event[k] for k in LINKED_KEYS if event.get(k)), "")
        if event.get("Event") == "OriginateResponse":
            linkedid = self._originate_answered(event, linkedid, now)
        if linkedid:
            return linkedid
        return next((event[k] for k in UNIQUE_KEYS if _known(event.get(k))), "")

    def _originate_answered(self, event, linkedid, now):
        device = device_of(event.get("Channel"))
        pending = self._originating.get(device)
        uniqueid = event.get("Uniqueid")
        if _known(uniqueid):
            # The Originate's first channel, whose uniqueid is the call's
            # linkedid. Under load Asterisk may send this before the
            # channel's Newchannel and DialBegin: remember it was answered.
            linkedid = linkedid or uniqueid
            if pending and any(item[1] == linkedid for item in pending):
                pending.remove(next(item for item in pending if item[1] == linkedid))
            else:
                self._responded[linkedid] = now
        elif pending:  # a failure: the oldest Originate still waiting on that device
            linkedid = pending.popleft()[1]
        if pending is not None and not pending:
            del self._originating[device]
        return linkedid

    def _forget(self, now):
        ended, linked = self._ended, self._linked
        horizon = now - self.keep_after_hangup
        while ended and ended[0][0] < horizon:
            linked.pop(ended.popleft()[1], None)
        stale = now - self.originate_timeout
        for linkedid in [k for k, t in self._responded.items() if t < stale]:
            del self._responded[linkedid]
        for device in [d for d, q in self._originating.items() if q[0][0] < stale]:
            queue = self._originating[device]
            while queue and queue[0][0] < stale:
                queue.popleft()
            if not queue:
                del self._originating[device]
