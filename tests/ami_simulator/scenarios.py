"""Call scenarios: the event sequences Asterisk 20 publishes for real calls.

A scenario is a :class:`Call` running as an asyncio task.  It creates channels
in the simulator's :class:`~.channels.ChannelTable`, runs a small dialplan
interpreter over the ``extensions.conf`` of the config store (so the demo
dialplan of the reference captures drives the calls, and an UpdateConfig'd
extension is callable; ``_`` patterns and ``${...}`` substitution as the seed
uses them), and publishes the events in the order the captures show them:

* ``Local/X@demo`` originates (captures a, b, c, g, j): the ``;1``/``;2``
  pair, ``AppDial2``, ``LocalBridge``, answer propagation, Reason 4/5/3;
  ``ChannelId``/``OtherChannelId``; a ``;2`` that Dials SIP phones is
  :class:`.originate.LocalPhonesDial`, an Originate of a SIP/PJSIP phone
  :class:`.originate.PhoneOriginateCall` (``tests/captures`` ``originate_*``);
* a SIP phone calling an extension (d), two SIP users bridged through
  ``Dial(SIP/bob)`` (i1, i2) with Redirect and BlindTransfer;
* the applications recorded in ``tests/captures`` (module :mod:`.pbx`):
  SIP Dial outcomes (busy, no answer, cancel, a ring group from a trunk, an
  outside number through the trunk), ringall queues (answered, abandoned), the
  attended transfer, and MixMonitor (the dialplan's or the action's, module
  :mod:`.recording`);
* SIP REGISTER outcomes (f, l), which only produce security/PeerStatus events.

Timing uses a virtual clock: every delay is the real Asterisk delay times
``time_scale``, while the timestamps shown (Uniqueid, Cdr) follow virtual
time.  Ties between two timers are resolved deterministically (the
originating side wins, as in capture a) so the event order is stable.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
from typing import TYPE_CHECKING

from . import channels as ch
from . import pbx
from .channels import (
    CALL,
    STATE_BUSY,
    STATE_RING,
    STATE_RINGING,
    STATE_UP,
    UNKNOWN,
    Channel,
)

if TYPE_CHECKING:  # pragma: no cover
    from .server import AmiSimulator

# OriginateResponse "Reason:" values (AST_CONTROL_*), see manager.c fast_originate.
REASON_FAILED = 0
REASON_NO_ANSWER = 3
REASON_ANSWERED = 4
REASON_BUSY = 5
REASON_CONGESTION = 8

PLAYBACK_SECONDS = 1.0  # length of "hello-world"
DIAL_VARS = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
_sip_callid = itertools.count(12037)


class HangupNow(Exception):
    """Raised inside a dialplan wait when another party ends the call."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Goto(Exception):
    def __init__(self, context: str, exten: str, priority: int):
        super().__init__(context, exten, priority)
        self.target = (context, exten, priority)


class EndOfDialplan(Exception):
    """The channel ran Hangup() or fell off the end of its extension."""


# --- dialplan ---------------------------------------------------------------

_APP_RE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\((.*)\))?\s*$")
PRIORITY_HINT = -1  # pbx.h: the priority of an extension's hint
REGISTRAR = "pbx_config"  # who registers extensions.conf's and the AMI's extensions
# [general] and [globals] of extensions.conf are settings, not contexts (pbx_config.c)
_NOT_CONTEXTS = ("general", "globals")


class Dialplan:
    """The PBX's dialplan, as ``{ctx: {exten: {prio: (app, data)}}}``: the
    ``extensions.conf`` of the config store, with the changes of the
    DialplanExtensionAdd/Remove actions on top (:class:`DialplanChanges`).

    An extension with a caller id match is keyed ``exten/cid``; it never runs
    (the simulator does not match caller ids). A hint is priority
    :data:`PRIORITY_HINT`, its devices the ``app``."""

    def __init__(self, store, changes: DialplanChanges | None = None):
        self.contexts: dict[str, dict[str, dict[int, tuple[str, str]]]] = {}
        # (ctx, exten, prio) -> extensions.conf line; absent: added by an action
        self.lines: dict[tuple[str, str, int], int] = {}
        cfg = store.files.get("extensions.conf")
        for cat in cfg.categories if cfg is not None else []:
            if cat.name in _NOT_CONTEXTS:
                continue
            ctx = self.contexts.setdefault(cat.name, {})
            current, prio = None, 0
            for v in cat.variables:
                if v.name not in ("exten", "same"):
                    continue
                parts = [p.strip() for p in v.value.split(",", 2)]
                if v.name == "exten" and len(parts) == 3:
                    current, p, app = parts
                    prio = (
                        int(p)
                        if p.isdigit()
                        else PRIORITY_HINT
                        if p == "hint"
                        else (1 if p == "n" and current not in ctx else prio + 1)
                    )
                elif v.name == "same" and len(parts) >= 2 and current:
                    p, app = parts[0], ",".join(parts[1:])
                    prio = int(p) if p.isdigit() else prio + 1
                else:
                    continue
                m = _APP_RE.match(app)
                name, data = (m.group(1), m.group(2) or "") if m else (app, "")
                if prio == PRIORITY_HINT:
                    name, data = app, ""  # the devices, parentheses and all
                ctx.setdefault(current, {})[prio] = (name, data)
                self.lines[(cat.name, current, prio)] = v.lineno
        # contexts an action created, the newest first (ast_context_find_or_create
        # puts a new context at the head of the list)
        self.created: list[str] = []
        if changes is not None:
            changes.apply(self)

    def match(self, context: str, exten: str) -> str | None:
        """The extension of ``context`` that runs for ``exten``: itself, else
        the first pattern (``_0XXXXXXXXX``) that matches it, in file order
        (Asterisk prefers the most specific one; the seed has one per context)."""
        extens = self.contexts.get(context, {})
        if exten in extens:
            return exten
        patterns = (k for k in extens if k.startswith("_") and "/" not in k)
        return next((key for key in patterns if pattern_match(key, exten)), None)

    def lookup(self, context: str, exten: str, prio: int) -> tuple[str, str] | None:
        key = self.match(context, exten)
        return None if key is None else self.contexts[context][key].get(prio)

    def exists(self, context: str, exten: str) -> bool:
        return self.match(context, exten) is not None

    # -- CLI "dialplan show" -----------------------------------------------------
    def show(self, what: str) -> tuple[bool, list[str]]:
        """``dialplan show [[exten@]context]`` (pbx.c handle_show_dialplan,
        show_dialplan_helper): the command's success and its lines. Extensions
        in ext_cmp() order (plain ones sorted, then the patterns), priorities
        in order, a hint first; includes are not modelled."""
        exten, context = None, what or None
        if "@" in what:
            exten, _, context = what.partition("@")
            exten, context = exten or None, context or None
        out: list[str] = []
        n_ext = n_prio = n_ctx = 0
        context_exists = exten_exists = False
        for name in self.created + [c for c in self.contexts if c not in self.created]:
            if context and name != context:
                continue
            context_exists = True
            rows = []
            for key in _sorted_extensions(self.contexts[name]):
                ext, _, cid = key.partition("/")
                if exten and not extension_match(ext, exten):
                    continue
                exten_exists = True
                n_ext += 1
                label = f"'{ext}' (CID match '{cid}') => " if cid else f"'{ext}' =>"
                for prio, (app, data) in sorted(self.contexts[name][key].items()):
                    shown = f"hint: {app}" if prio == PRIORITY_HINT else f"{prio}. {app}({data})"
                    line = self.lines.get((name, key, prio))
                    source = f"[extensions.conf:{line}]" if line else f"[{REGISTRAR}]"
                    rows.append(f"  {label:<17} {shown:<45} {source}")
                    label = ""
                    n_prio += 1
            if rows or not exten:
                n_ctx += 1
                out += [f"[ Context '{name}' created by '{REGISTRAR}' ]", *rows, ""]
        if context and not context_exists:
            return False, [*out, f"There is no existence of '{context}' context"]
        if exten and not exten_exists:
            where = f"{exten}@{context}" if context else f"'{exten}'"
            tail = "" if context else " in all contexts"
            return False, [*out, f"There is no existence of {where} extension{tail}"]
        out.append(
            f"-= {n_ext} extension{'s' if n_ext != 1 else ''} ({n_prio} "
            f"priorit{'ies' if n_prio != 1 else 'y'}) in {n_ctx} "
            f"context{'s' if n_ctx != 1 else ''}. =-"
        )
        return True, out


def _sorted_extensions(extens: dict) -> list[str]:
    """pbx.c ext_cmp(): plain extensions first, by strcmp, each before its caller
    id variants; then the patterns (in file order here: ext_cmp_pattern() is
    not modelled)."""
    plain = sorted(
        (k for k in extens if not k.startswith("_")),
        key=lambda k: (k.partition("/")[0].encode(), "/" in k, k.encode()),
    )
    return plain + [k for k in extens if k.startswith("_")]


def extension_match(name: str, exten: str) -> bool:
    """``ast_extension_match(name, exten)``: equal, or a ``_`` pattern matching it."""
    return pattern_match(name, exten) if name.startswith("_") else name == exten


class DialplanChanges:
    """What the DialplanExtensionAdd / DialplanExtensionRemove actions changed
    in the PBX's dialplan since extensions.conf was last loaded (pbx_config.c;
    Odoo installs its ``odoo-originate`` context so: capture
    originate_ring_auto_answer).

    Asterisk has one dialplan in memory; the simulator reads extensions.conf
    live and applies these changes on top (:class:`Dialplan`). The actions
    register their extensions as ``pbx_config``, as extensions.conf's, so they
    act on the file's too (Replace, Remove), and a reload of the dialplan
    (``dialplan reload``, ``Reload Module: pbx_config``) forgets them all
    (:meth:`reload`)."""

    def __init__(self):
        # ctx -> exten -> prio -> (app, data), or None: a priority removed
        self.contexts: dict[str, dict[str, dict[int, tuple[str, str] | None]]] = {}
        # contexts the actions created (not in extensions.conf) -> their
        # refcount: each DialplanExtensionAdd that found or created it
        self.created: dict[str, int] = {}

    def apply(self, dialplan: Dialplan) -> None:
        for name in reversed(self.created):
            dialplan.contexts.setdefault(name, {})
            dialplan.created.append(name)
        for name, extens in self.contexts.items():
            ctx = dialplan.contexts.setdefault(name, {})
            for exten, prios in extens.items():
                for prio, step in prios.items():
                    dialplan.lines.pop((name, exten, prio), None)
                    if step is not None:
                        ctx.setdefault(exten, {})[prio] = step
                    elif prio in ctx.get(exten, {}):
                        del ctx[exten][prio]
                        if not ctx[exten]:
                            del ctx[exten]

    def add(
        self, store, context: str, exten: str, prio: int, app: str, data: str, replace: bool
    ) -> str | None:
        """``ast_context_find_or_create`` then ``ast_add_extension2``; ``exten``
        is ``exten`` or ``exten/cid``. None when added, else the errno it
        failed with: ``EEXIST`` (that priority is there and ``replace`` is not
        set), ``""`` (no extension name: pbx.c sets no errno)."""
        current = Dialplan(store, self)
        if context in self.created:
            self.created[context] += 1
        elif context not in current.contexts:
            self.created[context] = 1
        name = exten.partition("/")[0]
        if not name:
            return ""
        if prio == PRIORITY_HINT and "${" in app and not name.startswith("_"):
            # a hint's devices are substituted once, on a dummy channel at it
            dummy = Channel(
                name="", uniqueid="", linkedid="", tech="", device="", context=context, exten=name
            )
            app = substitute(dummy, app)
        if prio in current.contexts.get(context, {}).get(exten, {}) and not replace:
            return "EEXIST"
        self.contexts.setdefault(context, {}).setdefault(exten, {})[prio] = (app, data)
        return None

    def remove(self, store, context: str, exten: str, prio: int) -> bool:
        """``ast_context_remove_extension_callerid``: the priority, or the whole
        extension with ``prio`` 0 (with its caller id variants when ``exten``
        names none); False when there was nothing to remove."""
        current = Dialplan(store, self)
        extens = current.contexts.get(context)
        if extens is None:
            return False
        if prio:
            keys = [exten] if prio in extens.get(exten, {}) else []
        else:
            variants = "/" not in exten  # no caller id named: all of them go
            keys = [k for k in extens if k == exten or (variants and k.startswith(exten + "/"))]
        for key in keys:
            for p in [prio] if prio else list(extens[key]):
                self.contexts.setdefault(context, {}).setdefault(key, {})[p] = None
        return bool(keys)

    def reload(self) -> None:
        """pbx_config loads extensions.conf again (ast_merge_contexts_and_delete):
        what the actions changed is gone, being pbx_config's; a context only
        they created stays, empty, when more than one of them asked for it
        (context_merge keeps a context whose refcount is above 1), with a
        refcount of 1 from then on."""
        self.contexts.clear()
        self.created = {name: 1 for name, refs in self.created.items() if refs > 1}


_PATTERN_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


def pattern_match(pattern: str, exten: str) -> bool:
    """``ast_extension_match`` for a ``_`` pattern: X, Z, N, ``[1-5]`` sets,
    ``.`` (one or more characters) and ``!`` (zero or more); ``-`` is ignored."""
    regex, i, body = "", 0, pattern[1:]
    while i < len(body):
        c = body[i]
        if c.upper() in _PATTERN_CLASSES:
            regex += _PATTERN_CLASSES[c.upper()]
        elif c == "[":
            end = body.find("]", i)
            if end < 0:
                return False
            regex += "[" + re.escape(body[i + 1 : end]).replace("\\-", "-") + "]"
            i = end
        elif c == ".":
            regex += ".+"
        elif c == "!":
            regex += ".*"
        elif c != "-":
            regex += re.escape(c)
        i += 1
    return re.fullmatch(regex, exten) is not None


_OPERAND = r'\s*("[^"]*"|[^\s"=!]+)\s*'
_COMPARISON = re.compile(f"^{_OPERAND}(==|=|!=){_OPERAND}$")


def get_variable(chan: Channel, name: str) -> str | None:
    """``pbx_builtin_getvar_helper``: names compared without their leading
    underscores (``__SIPADDHEADER01`` is ``SIPADDHEADER01``)."""
    bare = name.lstrip("_")
    return next((str(v) for k, v in chan.variables.items() if k.lstrip("_") == bare), None)


def expression(text: str) -> str:
    """``ast_expr`` of a ``$[...]``, as far as dialplans here use it: a string
    or number compared with ``=``/``==``/``!=`` (quotes are part of a string,
    ast_expr2.fl; two integers compare as numbers), or a lone operand. Other
    expressions are not modelled: returned as written."""
    m = _COMPARISON.match(text)
    if m is None:
        return text.strip() if re.fullmatch(_OPERAND, text) else text
    left, op, right = m.groups()
    if re.fullmatch(r"-?\d+", left) and re.fullmatch(r"-?\d+", right):
        equal = int(left) == int(right)
    else:
        equal = left == right
    return "1" if equal == (op != "!=") else "0"


def _closing(data: str, start: int, opening: str, closing: str) -> int:
    """pbx.c ``pbx_substitute_variables_helper_full``: where the ``${`` or
    ``$[`` before ``start`` ends, counting only its own kind of brace; -1
    when it does not."""
    depth = 1
    for i in range(start, len(data)):
        depth += {opening: 1, closing: -1}.get(data[i], 0)
        if depth == 0:
            return i
    return -1


def _substring(value: str, offset: int, length: int | None) -> str:
    """pbx_variables.c ``substring``: ``${VAR:offset:length}``, either of them
    negative counting from the end."""
    size = len(value)
    if offset < 0:
        offset = max(0, size + offset)
    if offset >= size:
        return ""
    if length is None or length >= 0:
        return value[offset:] if length is None else value[offset : offset + length]
    return value[offset : size + length] if size > offset - length else ""


def _function(chan: Channel, name: str, args: list[str]) -> str:
    """The dialplan functions the dialplans here call (func_channel.c,
    func_callerid.c, func_strings.c FIELDNUM, func_cut.c CUT with one field);
    another reads as empty (Asterisk logs an error)."""
    if name == "CHANNEL" and args == ["channeltype"]:
        return chan.tech  # SIP, PJSIP, Local
    if name == "CALLERID" and args in (["num"], ["name"]):
        value = chan.cid_num if args == ["num"] else chan.cid_name
        return value if value != UNKNOWN else ""
    if name in ("FIELDNUM", "CUT") and len(args) == 3:
        items = (get_variable(chan, args[0]) or "").split(args[1][:1]) if args[1] else []
        if not items or items == [""]:
            return "0" if name == "FIELDNUM" else ""
        if name == "FIELDNUM":  # strcasecmp
            wanted = args[2].lower()
            return str(next((n for n, v in enumerate(items, 1) if v.lower() == wanted), 0))
        field = int(args[2]) if args[2].strip().isdigit() else 0
        return items[field - 1] if 0 < field <= len(items) else ""
    return ""


def _value(chan: Channel, expr: str) -> str:
    """pbx_variables.c ``parse_variable_name`` then the lookup: a variable or
    a function call, then ``:offset[:length]`` outside parentheses."""
    depth, cut = 0, len(expr)
    for i, c in enumerate(expr):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == ":" and depth == 0:
            cut = i
            break
    name = expr[:cut]
    offsets = expr[cut + 1 :].split(":") if cut < len(expr) else []
    builtin = {
        "EXTEN": chan.exten,
        "CONTEXT": chan.context,
        "PRIORITY": str(chan.priority),
        "UNIQUEID": chan.uniqueid,
        "CHANNEL": chan.name,
    }
    if name.endswith(")") and "(" in name:
        function, _, args = name[:-1].partition("(")
        value = _function(chan, function, separate_args(args))
    else:
        value = builtin[name] if name in builtin else get_variable(chan, name) or ""
    if offsets:
        number = re.compile(r"\s*-?\d+\s*$")
        offset = int(offsets[0]) if number.match(offsets[0]) else 0
        length = int(offsets[1]) if len(offsets) > 1 and number.match(offsets[1]) else None
        value = _substring(value, offset, length)
    return value


def substitute(chan: Channel, data: str) -> str:
    """``pbx_substitute_variables`` for what the dialplans here use: the
    application data shown (Newexten ``AppData``) and run is the substituted
    one. A ``${...}`` or ``$[...]`` is substituted inside first (a variable's
    name may itself hold ``${...}``), then looked up (:func:`_value`) or
    evaluated (:func:`expression`)."""
    out, i = [], 0
    while i < len(data):
        kind = data[i : i + 2]
        if kind not in ("${", "$["):
            j = data.find("$", i + 1)
            j = len(data) if j < 0 else j
            out.append(data[i:j])
            i = j
            continue
        opening, closing = ("{", "}") if kind == "${" else ("[", "]")
        end = _closing(data, i + 2, opening, closing)
        if end < 0:  # "Error in extension logic (missing '}')": taken as it is
            out.append(data[i:])
            break
        inner = substitute(chan, data[i + 2 : end])
        out.append(_value(chan, inner) if kind == "${" else expression(inner))
        i = end + 1
    return "".join(out)


def separate_args(text: str) -> list[str]:
    """app.c ``__ast_app_separate_args`` with ``remove_chars`` (manager.c
    splits a ``Variable:`` header with it, app_dial.c Dial's data): a comma
    inside parentheses, brackets or quotes does not separate
    (``PJSIP_HEADER(add,Call-Info)=...`` is one item); quotes are taken away,
    a backslash keeps the next character."""
    items, current = [], []
    paren = bracket = 0
    quote = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
            continue
        elif char == '"':
            quote = not quote
            continue
        elif char == "(":
            paren += 1
        elif char == ")":
            paren = max(0, paren - 1)
        elif char == "[":
            bracket += 1
        elif char == "]":
            bracket = max(0, bracket - 1)
        elif char == "," and not (paren or quote or bracket):
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def parse_callerid(value: str) -> tuple[str, str]:
    """``"Name" <num>`` -> (num, name), like ast_callerid_split."""
    value = value.strip()
    m = re.match(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$', value)
    if m:
        return m.group(2).strip(), m.group(1).strip()
    if value.replace("+", "").isdigit():
        return value, ""
    return "", value


def rtcp_vars(ssrc: int, txcount: int) -> list[tuple[str, str]]:
    """chan_sip's end-of-call RTP statistics variables (six VarSet per SIP channel)."""
    z = "000.000000"
    qos = (
        f"ssrc={ssrc};themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
        f"txcount={txcount};rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"
    )
    return [
        ("RTPAUDIOQOS", qos),
        (
            "RTPAUDIOQOSJITTER",
            "".join(
                f"{k}jitter={z};"
                for k in (
                    "minrx",
                    "maxrx",
                    "avgrx",
                    "stdevrx",
                    "mintx",
                    "maxtx",
                    "avgtx",
                    "stdevtx",
                )
            ),
        ),
        (
            "RTPAUDIOQOSLOSS",
            "".join(
                f"  {k}lost={z};"
                for k in (
                    "minrx",
                    "maxrx",
                    "avgrx",
                    "stdevrx",
                    "mintx",
                    "maxtx",
                    "avgtx",
                    "stdevtx",
                )
            ),
        ),
        ("RTPAUDIOQOSRTT", "".join(f"     {k}rtt={z};" for k in ("min", "max", "avg", "stdev"))),
        (
            "RTPAUDIOQOSMES",
            "".join(
                f"   {k}mes={z};"
                for k in (
                    "minrx",
                    "maxrx",
                    "avgrx",
                    "stdevrx",
                    "mintx",
                    "maxtx",
                    "avgtx",
                    "stdevtx",
                )
            ),
        ),
        ("RTPAUDIOQOS", qos),
    ]


# --- base call --------------------------------------------------------------


class Call:
    """One call (one Linkedid) and the task that plays it."""

    kind = "call"
    # what a pbx.SipDial of this call reads (SipInboundCall sets them per scenario)
    early_ringing = False  # the dialled phone's 180 beats Dial's DialBegin (a race)
    cancel_after: float | None = None  # the caller gives up this long after its Dial began

    def __init__(self, sim: AmiSimulator):
        self.sim = sim
        self.table = sim.table
        self.channels: list[Channel] = []
        self.linkedid = ""
        self.task: asyncio.Task | None = None
        self.vt = 0.0  # virtual seconds since the call started
        self._t0 = asyncio.get_running_loop().time()
        self.bridge: ch.Bridge | None = None
        self.done = asyncio.Event()
        self.dialplan = Dialplan(sim.config_store, sim.dialplan_changes)
        # published when the call first blocks (see defer_until_block)
        self._deferred: list = []
        # PJSIP devices this call made busy (state published), in that order
        self.in_use: dict[str, None] = {}
        # dialled PJSIP channels app_dial hung up whose Hangup is still to come
        self.lingering: list[Channel] = []

    # -- plumbing ---------------------------------------------------------
    def emit(self, *events) -> None:
        for event in events:
            self.sim.publish(event)

    def defer_until_block(self, fn) -> None:
        """Run ``fn()`` when the call next blocks (a wait, Dial requesting its
        channels) or ends: what another Asterisk thread publishes while this
        channel's dialplan runs on (an async Originate's OriginateResponse)."""
        self._deferred.append(fn)

    def flush_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)()

    async def wait(self, seconds: float) -> None:
        """Advance virtual time; real sleep is ``seconds * time_scale``."""
        self.flush_deferred()
        self.vt += seconds
        # A timer even when the target is past (the loop fell behind), never
        # sleep(0): timers run in deadline order, so what :meth:`at` set for
        # an earlier virtual time still happens first.
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        timer = loop.call_at(
            self._t0 + self.vt * self.sim.clock.time_scale,
            lambda: woken.done() or woken.set_result(None),
        )
        try:
            await woken
        finally:
            timer.cancel()

    def at(self, seconds: float, callback) -> None:
        """Run ``callback`` ``seconds`` of virtual time from now, in the
        timeline of :meth:`wait`, however far behind the loop is."""
        target = self._t0 + (self.vt + seconds) * self.sim.clock.time_scale
        asyncio.get_running_loop().call_at(target, callback)

    def now(self) -> float:
        return self.sim.clock.now()

    def new_channel(
        self, name: str, tech: str, device: str, context: str, exten: str, **kw
    ) -> Channel:
        chan = self.table.new_channel(
            name, tech, device, context, exten, linkedid=self.linkedid or None, **kw
        )
        chan.call = self
        if not self.linkedid:
            self.linkedid = chan.uniqueid
        self.channels.append(chan)
        return chan

    def set_state(self, chan: Channel, state: int) -> None:
        """channel.c ``ast_setstate``: a new state is published (Newstate),
        the same one again is not."""
        if chan.state == state:
            return
        chan.state = state
        if state == STATE_UP and chan.answered is None:
            chan.answered = self.now()
        moved = chan.shown_location is not None
        self.emit(ch.newstate(chan))
        if moved:
            # the new snapshot's location differs from the last one's:
            # manager_channels.c channel_newexten() follows the Newstate with a
            # Newexten (originate_ring_auto_answer: after a pre-dial Gosub)
            self.emit(ch.newexten(chan, chan.appl, chan.data))

    def newexten(
        self, chan: Channel, prio: int, app: str, data: str, extension: str | None = None
    ) -> None:
        chan.priority = prio
        chan.set_app(app, data)
        if not app.startswith("AppDial"):  # a dialled channel's placeholder runs no PBX
            self.table.start_pbx(chan)
        self.emit(ch.newexten(chan, app, data, extension))

    def finish_channel(self, chan: Channel, cause: int, cdr: bool = True) -> None:
        """Hangup event (+ Cdr) and removal from the live table."""
        # A recording ends with its channel (no MixMonitorStop: capture
        # recorded_inbound); its file is complete once the Hangup is out.
        self.sim.end_mixmonitor(chan)
        self.emit(ch.hangup(chan, cause))
        self.table.remove(chan)
        if cdr:
            self.emit(ch.cdr(chan, self.now()))

    def alive(self) -> list[Channel]:
        return [c for c in self.channels if c.alive]

    def device_in_use(self, device: str, state: str) -> None:
        """chan_pjsip publishes its devices' states per call (captures
        pjsip_call_answered, pjsip_call_noanswer), back to idle at the end
        (:meth:`devices_idle`)."""
        self.in_use[device] = None
        self.emit(ch.device_state(device, state))

    def device_idle(self, device: str) -> None:
        """One device of :meth:`device_in_use` idle again, before the others."""
        if device in self.in_use:
            del self.in_use[device]
            self.emit(ch.device_state(device, pbx.idle_state(self.sim, device)))

    def devices_idle(self) -> None:
        """The devices of :meth:`device_in_use` idle again, once the call's
        channels and CDRs are gone, in the order they became busy."""
        for device in self.in_use:
            self.emit(ch.device_state(device, pbx.idle_state(self.sim, device)))
        self.in_use.clear()

    def linger(self, chan: Channel, cause: int) -> None:
        """A dialled PJSIP channel app_dial gave up: chan_pjsip ends its SIP
        session on its own thread, and its Hangup only comes as the caller
        hangs up (captures pjsip_call_busy, pjsip_call_noanswer)."""
        chan.hangup_cause = cause
        self.lingering.append(chan)

    def release_lingering(self) -> None:
        while self.lingering:
            chan = self.lingering.pop(0)
            if chan.alive:
                self.finish_channel(chan, chan.hangup_cause or 0, cdr=False)

    def phone(self, peer: str) -> tuple[str, float]:
        """How ``peer``'s phone answers a Dial: (kind, seconds of ringing first)."""
        kind, ring, _ = pbx.sim_phone(self.sim, peer)
        return kind, ring

    def phone_talk(self, peer: str) -> float | None:
        """Seconds after answering at which ``peer``'s phone hangs up itself, or None."""
        return pbx.sim_phone(self.sim, peer)[2]

    def start(self) -> str:
        self.setup()
        self.sim.calls[self.linkedid] = self
        self.task = asyncio.create_task(self._run_guarded())
        return self.linkedid

    def setup(self) -> None:
        """Synchronous first step (creates the first channel, fixes the Linkedid)."""

    async def run(self) -> None:  # pragma: no cover - overridden
        pass

    async def _run_guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            pass
        except Exception:  # a scenario bug must not kill the server
            self.sim.log.exception("scenario %s failed", self.kind)
            self.force_cleanup()
        finally:
            if not self.alive():
                self.sim.calls.pop(self.linkedid, None)
                self.done.set()

    def force_cleanup(self) -> None:
        for chan in self.alive():
            self.table.remove(chan)
        if self.bridge:
            self.table.bridges.pop(self.bridge.uniqueid, None)

    def interrupt(self) -> None:
        """Stop the scripted timeline; the caller publishes what happens next."""
        if self.task and not self.task.done() and self.task is not asyncio.current_task():
            self.task.cancel()

    def continue_with(self, coro) -> None:
        self.task = asyncio.create_task(self._continue(coro))

    async def _continue(self, coro) -> None:
        self._t0 = asyncio.get_running_loop().time()
        self.vt = 0.0
        try:
            await coro
        except asyncio.CancelledError:
            pass
        except Exception:
            self.sim.log.exception("scenario %s continuation failed", self.kind)
            self.force_cleanup()
        finally:
            if not self.alive():
                self.sim.calls.pop(self.linkedid, None)
                self.done.set()

    # -- AMI-driven changes (overridden where the captures show more) ------
    def ami_hangup(self, chan: Channel, cause: int) -> None:
        """AMI Hangup: Asterisk soft-hangs-up the channel without a HangupRequest
        event for it; the rest of the call then tears down."""
        self.interrupt()
        self.generic_teardown(first=chan, cause=cause or (16 if chan.tech == "SIP" else 0))

    def generic_teardown(self, first: Channel | None, cause: int = 16, bridges=None) -> None:
        """``bridges``: those of the call (default: ``self.bridge``)."""
        order = self.alive()
        if first in order:
            order.remove(first)
            order.insert(0, first)
        bridges = [b for b in (bridges if bridges is not None else [self.bridge]) if b]
        for chan in order:
            if chan.bridge in bridges:
                self.emit(ch.bridge_leave(chan.bridge, chan))
            if chan is not first:
                self.emit(ch.soft_hangup_request(chan, 16))
            if chan.tech == "SIP":
                for k, v in rtcp_vars(random.getrandbits(31), 0):
                    self.emit(ch.varset(chan, k, v))
            self.finish_channel(chan, cause if chan is first else 16)
        for bridge in bridges:
            self.emit(ch.bridge_destroy(bridge))
            self.table.bridges.pop(bridge.uniqueid, None)
        self.bridge = None
        for device in dict.fromkeys(c.device for c in order):
            self.emit(ch.device_state(device, "NOT_INUSE"))

    def redirect(
        self,
        chan: Channel,
        context: str,
        exten: str,
        priority: int,
        extra: Channel | None = None,
        extra_target: tuple | None = None,
    ) -> None:
        """Default Redirect: the channel leaves whatever it did and runs the dialplan."""
        self.interrupt()
        targets = [(chan, (context, exten, priority))]
        if extra is not None and extra_target is not None:
            targets.append((extra, extra_target))
        bridge = self.bridge
        for c, _ in targets:
            if bridge and c in bridge.channels:
                self.emit(ch.bridge_leave(bridge, c))
        if bridge:
            for c in list(bridge.channels):
                self.emit(ch.bridge_leave(bridge, c))
            self.emit(ch.bridge_destroy(bridge))
            self.table.bridges.pop(bridge.uniqueid, None)
            self.bridge = None

        async def go():
            for c, (ctx, ext, _prio) in targets:
                c.context, c.exten = ctx, ext
            await asyncio.gather(*(self.run_dialplan_safe(c, *t) for c, t in targets))
            self.generic_teardown(first=None)

        self.continue_with(go())

    def blind_transfer_error(self, chan: Channel, context: str, exten: str) -> str | None:
        """Text of the Error response BlindTransfer gets, None when it can go ahead."""
        return "Transfer invalid"

    def blind_transfer(self, chan: Channel, context: str, exten: str) -> None:
        pass

    def atxfer(self, chan: Channel, context: str, exten: str) -> str | None:
        return "No attended transfer feature code found"

    def can_park(self, chan: Channel) -> bool:
        """Modelled (capture park_caller): the caller of a bridged SIP call."""
        return False

    def set_variables(self, chan: Channel, variables: list[tuple[str, str]]) -> None:
        """An Originate's ``Variable``s on ``chan``: a VarSet each, but for a
        function's write (``PJSIP_HEADER(add,...)``), which sets no variable."""
        for k, v in variables:
            if not k.endswith(")"):
                self.emit(ch.varset(chan, k, v))
            else:
                pbx.write_pjsip_header(chan, k, v)

    # -- dialplan interpreter ----------------------------------------------
    async def run_dialplan_safe(
        self, chan: Channel, context: str, exten: str, prio: int = 1
    ) -> None:
        with contextlib.suppress(EndOfDialplan, HangupNow):
            await self.run_dialplan(chan, context, exten, prio)

    async def run_dialplan(
        self, chan: Channel, context: str, exten: str, prio: int = 1, first_app_shown: bool = True
    ) -> None:
        """Execute ``exten`` from ``prio`` on ``chan`` until it hangs up or is interrupted."""
        while True:
            step = self.dialplan.lookup(context, exten, prio)
            if step is None:
                raise EndOfDialplan()
            app, data = step
            chan.context, chan.exten = context, exten
            chan.priority = prio
            data = substitute(chan, data)
            self.newexten(chan, prio, app, data)
            self.after_newexten(chan)
            handler = getattr(self, "app_" + app.lower(), None)
            try:
                if handler is None:
                    await self.dp_wait(chan, 0)
                else:
                    await handler(chan, data)
            except Goto as g:
                context, exten, prio = g.target
                continue
            prio += 1

    def after_newexten(self, chan: Channel) -> None:
        """Hook to publish what Asterisk emits right after a Newexten (e.g. DialState)."""

    def deadline(self, chan: Channel) -> tuple[float, str] | None:
        """(virtual time, reason) at which something else ends ``chan``'s dialplan."""
        return None

    async def dp_wait(self, chan: Channel, seconds: float) -> None:
        dl = self.deadline(chan)
        if dl is not None and self.vt + seconds >= dl[0]:
            await self.wait(max(0.0, dl[0] - self.vt))
            raise HangupNow(dl[1])
        await self.wait(seconds)

    def on_answer(self, chan: Channel) -> None:
        self.set_state(chan, STATE_UP)

    def on_ringing(self, chan: Channel) -> None:
        pass

    def on_busy(self, chan: Channel) -> None:
        self.set_state(chan, STATE_BUSY)

    # applications
    async def app_noop(self, chan, data):
        pass

    async def app_answer(self, chan, data):
        if chan.state != STATE_UP:
            self.on_answer(chan)

    async def app_wait(self, chan, data):
        await self.dp_wait(chan, float(data or 0))

    async def app_ringing(self, chan, data):
        self.on_ringing(chan)

    async def app_playback(self, chan, data):
        self.playing = chan
        await self.dp_wait(chan, PLAYBACK_SECONDS)
        self.playing = None
        self.emit(ch.varset(chan, "PLAYBACKSTATUS", "SUCCESS"))

    async def app_busy(self, chan, data):
        self.on_busy(chan)
        await self.dp_wait(chan, float(data or 10))
        raise EndOfDialplan()

    async def app_congestion(self, chan, data):
        await self.app_busy(chan, data)

    async def app_hangup(self, chan, data):
        raise EndOfDialplan()

    async def app_goto(self, chan, data):
        parts = [p.strip() for p in data.split(",")]
        if len(parts) == 3:
            raise Goto(parts[0], parts[1], int(parts[2]))
        if len(parts) == 2:
            raise Goto(chan.context, parts[0], int(parts[1]))
        raise Goto(chan.context, chan.exten, int(parts[0]))

    async def app_set(self, chan, data):
        var, _, value = data.partition("=")
        if var.strip().upper() == "TIMEOUT(ABSOLUTE)":
            self.absolute_timeout = self.vt + float(value or 0)
        else:
            self.emit(ch.varset(chan, var.strip(), value))

    async def app_milliwatt(self, chan, data):
        await self.dp_wait(
            chan, max(0.0, getattr(self, "absolute_timeout", self.vt + 3600) - self.vt)
        )

    app_echo = app_milliwatt

    async def app_dial(self, chan, data):
        # Targets without a scripted model: the dial fails at once.
        self.emit(ch.varset(chan, "DIALSTATUS", "CHANUNAVAIL"))

    async def app_mixmonitor(self, chan, data):
        filename, _, options = data.partition(",")
        self.sim.start_mixmonitor(chan, filename.strip(), options.partition(",")[0])

    async def app_playtones(self, chan, data):
        pass

    app_progress = app_playtones


# --- Originate to a Local channel -------------------------------------------


class LocalOriginateCall(Call):
    """``Originate Channel: Local/<exten>@<context>[/n]`` (captures a, b, c, g, j)."""

    kind = "originate"

    def __init__(
        self,
        sim,
        exten: str,
        context: str,
        app: str = "",
        appdata: str = "",
        cid: tuple[str, str] = ("", ""),
        timeout: float = 30.0,
        action_id: str = "",
        dial_context: str = "",
        dial_exten: str = "",
        dial_priority: int = 1,
        optimize: bool = True,
        variables: list[tuple[str, str]] | None = None,
        account: str = "",
        result: asyncio.Future | None = None,
        emit_response: bool = True,
        channel_id: str = "",
        other_channel_id: str = "",
    ):
        super().__init__(sim)
        self.exten, self.context = exten, context
        # Originate ChannelId / OtherChannelId: the Uniqueids of ;1 / ;2
        # (core_unreal.c: ;2 defaults to "<ChannelId>;2"; alone, OtherChannelId is ignored)
        self.channel_id = channel_id
        self.other_channel_id = (other_channel_id or f"{channel_id};2") if channel_id else ""
        self.app, self.appdata = app, appdata
        self.cid_num, self.cid_name = cid
        self.timeout = timeout
        self.action_id = action_id
        self.dial_context, self.dial_exten, self.dial_priority = (
            dial_context,
            dial_exten,
            dial_priority,
        )
        self.optimize = optimize
        self.variables = variables or []
        self.account = account
        self.result = result  # resolved with the Reason for a synchronous Originate
        self.emit_response = emit_response
        self.answered = False
        self.app_deadline: float | None = None
        self.dial_begun = False
        self.pending_dialstate = False
        self.playing: Channel | None = None
        self.inner: LocalDialLeg | None = None
        self.phones = None  # originate.LocalPhonesDial: ;2 dials SIP phones

    @property
    def requested(self) -> str:
        return f"Local/{self.exten}@{self.context}"

    @property
    def early_ringing(self) -> bool:
        """Whether a phone this call Dials shows its 180 before the DialBegin: a
        race, recorded both ways (``AmiSimulator.races``)."""
        return bool(self.sim.races.get("early_ringing"))

    def setup(self) -> None:
        suffix = self.table.next_suffix("Local")
        base = f"Local/{self.exten}@{self.context}-{suffix}"
        self.one = self.new_channel(
            base + ";1",
            "Local",
            self.requested,
            self.context,
            self.exten,
            accountcode=self.account,
            uniqueid=self.channel_id or None,
        )
        self.two = self.new_channel(
            base + ";2",
            "Local",
            self.requested,
            self.context,
            self.exten,
            state=STATE_RING,
            accountcode=self.account,
            uniqueid=self.other_channel_id or None,
        )
        one, two = self.one, self.two
        self.emit(ch.newchannel(one), ch.newchannel(two))
        self.newexten(one, 1, "AppDial2", "(Outgoing Line)")
        clid = ch.cdr_clid(self.cid_num, self.cid_name)
        # the Originate's Variables on ;1, copied to ;2 by chan_local (capture
        # originate_local_two_devices) in the order of ;1's list, the newest
        # first (originate_ring_auto_answer); the caller id: ;1, then ;2
        for c in (one, two):
            self.set_variables(c, self.variables if c is one else self.variables[::-1])
            if self.cid_num or self.cid_name:
                c.cid_num, c.cid_name = self.cid_num or UNKNOWN, self.cid_name or UNKNOWN
                if c is two:
                    c.conn_num, c.conn_name = c.cid_num, c.cid_name
            c.cdr_src, c.cdr_dst, c.cdr_dcontext, c.cdr_clid = (
                self.cid_num,
                self.exten,
                self.context,
                clid,
            )
            self.emit(ch.newcallerid(c))
            if c is one and (self.cid_num or self.cid_name):
                c.conn_num, c.conn_name = c.cid_num, c.cid_name
            self.emit(ch.newconnectedline(c))
        self.emit(ch.local_bridge(one, two, self.context, self.exten, self.optimize))
        # Dial publishes DialBegin right away unless ;2 answers at once, in which
        # case ;2's first steps win the race (capture a vs. b, c, g).
        first = self.dialplan.lookup(self.context, self.exten, 1)
        second = self.dialplan.lookup(self.context, self.exten, 2)
        answers_at_once = first is not None and (
            first[0].lower() == "answer"
            or (first[0].lower() == "noop" and second is not None and second[0].lower() == "answer")
        )
        if not answers_at_once:
            self.dial_begin()

    async def run(self) -> None:
        if not self.dialplan.exists(self.context, self.exten):
            return await self.fail(REASON_FAILED, cause=1)
        self.ring_deadline = self.timeout
        try:
            await self.run_dialplan(self.two, self.context, self.exten)
            self.far_end_hangup()
        except EndOfDialplan:
            self.far_end_hangup()
        except HangupNow as stop:
            if stop.reason == "app_done":
                self.originator_hangup()
            elif stop.reason == "ring_timeout":
                self.no_answer()

    # ;2 answering is what makes the originate succeed (capture a ordering)
    def dial_begin(self) -> None:
        if not self.dial_begun:
            self.dial_begun = True
            self.emit(ch.dial_begin(None, self.one, f"{self.exten}@{self.context}"))

    def after_newexten(self, chan):
        if chan is self.two and self.pending_dialstate:
            self.pending_dialstate = False
            self.emit(
                ch.dial_state(None, self.one, "RINGING"), ch.device_state(self.requested, "INUSE")
            )

    def on_answer(self, chan: Channel) -> None:
        if chan is not self.two:
            return super().on_answer(chan)
        self.set_state(self.two, STATE_UP)
        self.emit(ch.device_state(self.requested, "NOT_INUSE"))
        self.originate_answered()
        return None

    def originate_answered(self) -> None:
        self.dial_begin()
        self.answered = True
        one = self.one
        if self.app:
            one.set_app(self.app, self.appdata)
        self.send_response("Success", REASON_ANSWERED, one.name, one.uniqueid)
        self.set_state(one, STATE_UP)
        self.emit(ch.device_state(self.requested, "INUSE"), ch.dial_end(None, one, "ANSWER"))
        self.app_deadline = self.vt + app_duration(self.app, self.appdata)

    def on_ringing(self, chan: Channel) -> None:
        if chan is self.two:
            self.dial_begin()
            self.set_state(self.one, STATE_RINGING)
            self.pending_dialstate = True

    def on_busy(self, chan: Channel) -> None:
        two, one = self.two, self.one
        self.dial_begin()
        self.set_state(two, STATE_BUSY)
        self.emit(
            ch.dial_end(None, one, "BUSY"),
            ch.hangup_request(two, 0),
            ch.device_state(self.requested, "INUSE"),
        )
        self.send_response("Failure", REASON_BUSY)
        self.finish_channel(one, 0, cdr=False)
        self.emit(ch.device_state(self.requested, "NOT_INUSE"))
        for c in (one, two):
            c.cdr_disposition = "BUSY"
        self.emit(ch.cdr(one, self.now()), ch.cdr(two, self.now()))
        self.emit(ch.soft_hangup_request(two, 16))
        self.finish_channel(two, 17, cdr=False)
        self.emit(ch.device_state(self.requested, "NOT_INUSE"))
        raise HangupNow("busy")

    def deadline(self, chan):
        if self.phones is not None:
            # ;1 runs its dialplan while the answering phone talks to ;2
            bye = self.phones.bye_vt
            return (bye, "phone_bye") if chan is self.one and bye is not None else None
        if chan is not self.two:
            return None
        if not self.answered:
            return (self.ring_deadline, "ring_timeout")
        if self.app_deadline is not None:
            return (self.app_deadline, "app_done")
        return None

    def send_response(
        self, response: str, reason: int, channel: str | None = None, uniqueid: str | None = None
    ) -> None:
        if self.result is not None and not self.result.done():
            self.result.set_result(reason)
        if not self.emit_response:
            return
        pairs = [("Event", "OriginateResponse")]
        if self.action_id:
            pairs.append(("ActionID", self.action_id))
        pairs += [("Response", response), ("Channel", channel or self.requested)]
        if self.app:
            pairs += [("Application", self.app), ("Data", self.appdata)]
        else:
            pairs += [("Context", self.dial_context), ("Exten", self.dial_exten)]
        pairs += [
            ("Reason", str(reason)),
            # no channel (a failure): the ChannelId asked for, else <unknown> (manager.c)
            ("Uniqueid", uniqueid or getattr(self, "channel_id", "") or UNKNOWN),
            ("CallerIDNum", self.cid_num or UNKNOWN),
            ("CallerIDName", self.cid_name or UNKNOWN),
        ]
        self.emit((CALL, pairs))

    async def fail(self, reason: int, cause: int) -> None:
        self.send_response("Failure", reason)
        for c in self.alive():
            self.finish_channel(c, cause, cdr=False)

    # --- endings ---------------------------------------------------------
    def originator_hangup(self) -> None:
        """;1's application finished first (captures a, j)."""
        one, two = self.one, self.two
        self.emit(ch.hangup_request(two, 0))
        self.finish_channel(one, 0)
        if self.playing is two:
            self.emit(ch.varset(two, "PLAYBACKSTATUS", "SUCCESS"))
        self.emit(ch.soft_hangup_request(two, 16))
        self.finish_channel(two, 0)
        self.emit(
            ch.device_state(self.requested, "NOT_INUSE"),
            ch.device_state(self.requested, "NOT_INUSE"),
        )

    def far_end_hangup(self) -> None:
        """;2 ran Hangup() (or fell off its extension) while ;1 was still busy."""
        one, two = self.one, self.two
        if not self.answered:
            # Hung up before answering: the originate fails like a rejected call.
            self.dial_begin()
            self.emit(ch.dial_end(None, one, "CANCEL"))
            self.emit(ch.soft_hangup_request(two, 16))
            self.finish_channel(two, 16)
            self.send_response("Failure", REASON_FAILED)
            self.finish_channel(one, 16)
        else:
            self.emit(ch.soft_hangup_request(two, 16))
            self.finish_channel(two, 16)
            self.emit(ch.hangup_request(one, 16))
            self.finish_channel(one, 16)
        self.emit(
            ch.device_state(self.requested, "NOT_INUSE"),
            ch.device_state(self.requested, "NOT_INUSE"),
        )

    def no_answer(self) -> None:
        """Originate Timeout expired while ringing (capture c)."""
        one, two = self.one, self.two
        self.emit(ch.hangup_request(two, 19), ch.soft_hangup_request(two, 16))
        self.finish_channel(two, 19, cdr=False)
        self.send_response("Failure", REASON_NO_ANSWER)
        self.finish_channel(one, 19, cdr=False)
        self.emit(
            ch.device_state(self.requested, "NOT_INUSE"),
            ch.device_state(self.requested, "NOT_INUSE"),
        )
        for c in (two, one):
            c.cdr_disposition = "NO ANSWER"
            self.emit(ch.cdr(c, self.now()))

    def ami_hangup(self, chan: Channel, cause: int) -> None:
        if self.phones is not None:  # pragma: no cover - not recorded
            self.phones.catch_up()
            self.interrupt()
            # the phone's bridge, the number's, the Local leg's
            bridges = list(dict.fromkeys(c.bridge for c in self.alive() if c.bridge))
            return self.generic_teardown(chan, cause or (16 if chan.tech == "SIP" else 0), bridges)
        if self.inner is not None and chan is self.one:
            self.interrupt()
            return self.inner.teardown_from_originator(cause)
        if chan is self.one and self.answered:
            self.interrupt()
            return self.originator_hangup()
        return super().ami_hangup(chan, cause)

    # Dial(Local/110@demo/n,30) from ;2 (capture g)
    # Dial(SIP/bob&SIP/carol,20) from ;2 (capture originate_local_two_devices)
    async def app_dial(self, chan, data):
        if self.phones is not None and chan is not self.two:
            return await self.phones.dial_out.app_dial(chan, data)  # ;1 dials the number
        target = data.split(",")[0]
        if chan is self.two and self.phones is None and _sip_targets(target):
            from .originate import LocalPhonesDial  # originate imports this module

            self.dial_begin()
            self.phones = LocalPhonesDial(self, data)
            status = await self.phones.run()
            if status != "ANSWER":
                return None  # DIALSTATUS is set; ;2's dialplan goes on
            await self.phones.connected()
            raise HangupNow("phones_done")
        if chan is self.two and target.startswith("Local/"):
            self.dial_begin()
            self.inner = LocalDialLeg(self, chan, data)
            await self.inner.run()
            raise HangupNow("bridged_done")
        return await super().app_dial(chan, data)


def _sip_targets(target: str) -> bool:
    parts = [t.strip() for t in target.split("&") if t.strip()]
    return bool(parts) and all(t[:4].upper() == "SIP/" for t in parts)


def app_duration(app: str, data: str) -> float:
    """How long the Originate's Application keeps ``;1`` busy (virtual seconds)."""
    app = app.lower()
    if app == "wait":
        try:
            return float(data or 0)
        except ValueError:
            return 0.0
    if app == "playback":
        return PLAYBACK_SECONDS
    if app in ("hangup", "noop", ""):
        return 0.0
    return 86400.0  # Echo, MusicOnHold, Park, ConfBridge...: until the far end hangs up


class LocalDialLeg:
    """``caller`` runs ``Dial(Local/<x>@<ctx>/n,...)``: ``;2`` of an originate in
    capture g (:meth:`run`), the answered ``;1`` of a click-to-dial on several
    phones in tests/captures (:meth:`open`, then :mod:`.dialout`)."""

    def __init__(self, call: LocalOriginateCall, caller: Channel, data: str):
        self.call = call
        self.caller = caller
        self.data = data
        target = data.split(",")[0]
        m = re.match(r"Local/([^@/]+)@([^/]+)(/n)?", target)
        self.exten, self.context = m.group(1), m.group(2)
        self.optimize = not m.group(3)
        self.dialstring = target[len("Local/") :]

    def open(self) -> None:
        """The Local pair, up to ``caller``'s DialBegin towards its ``;1``."""
        call, caller = self.call, self.caller
        for var in DIAL_VARS:
            call.emit(ch.varset(caller, var, ""))
        self.device = device = f"Local/{self.exten}@{self.context}"
        base = f"{device}-{call.table.next_suffix('Local')}"
        a = call.new_channel(base + ";1", "Local", device, self.context, self.exten)
        b = call.new_channel(
            base + ";2", "Local", device, self.context, self.exten, state=STATE_RING
        )
        self.a, self.b = a, b
        call.emit(ch.newchannel(a), ch.newchannel(b))
        call.emit(ch.varset(a, "DIALEDPEERNUMBER", self.dialstring))
        # _VAR reaches ;1 as VAR, which chan_local copies to ;2 (capture
        # originate_local_auto_answer); the SIP channel ;2 dials does not get it
        pbx.inherit_variables(call, caller, a)
        a.exten = caller.exten
        for c in (a, b):
            c.cdr_src, c.cdr_dst, c.cdr_dcontext, c.cdr_clid = (
                caller.cdr_src,
                self.exten,
                self.context,
                caller.cdr_clid,
            )
        # app_dial: the outgoing channel's caller is the dialling channel's exten
        # and connected name, its connected line the caller (300/Odoo and
        # 9000/Odoo in g; bobcarol/Call to Robert and bob/Bob in
        # originate_local_auto_answer)
        a.cid_num, a.cid_name = caller.exten, caller.conn_name
        a.conn_num, a.conn_name = caller.cid_num, caller.cid_name
        call.newexten(a, 1, "AppDial", "(Outgoing Line)")
        call.emit(ch.newcallerid(a), ch.newconnectedline(a))
        call.emit(ch.varset(b, "DIALEDPEERNUMBER", self.dialstring))
        pbx.inherit_variables(call, caller, b)
        # core_unreal: ;2 sees ;1's parties the other way round
        b.cid_num, b.cid_name = a.conn_num, a.conn_name
        b.conn_num, b.conn_name = a.cid_num, a.cid_name
        call.emit(ch.newcallerid(b), ch.newconnectedline(b))
        call.emit(ch.local_bridge(a, b, self.context, self.exten, self.optimize))
        call.emit(ch.dial_begin(caller, a, self.dialstring))

    async def run(self) -> None:
        call, caller = self.call, self.caller
        self.open()
        a, b, device = self.a, self.b, self.device
        # the dialled extension (110: NoOp, Answer, Wait(60))
        call.newexten(b, 1, "NoOp", "ext 110 long call")
        call.newexten(b, 2, "Answer", "")
        call.set_state(b, STATE_UP)
        call.emit(ch.device_state(device, "INUSE"))
        call.set_state(a, STATE_UP)
        caller.cdr_dstchannel = a.name
        call.emit(
            ch.varset(caller, "DIALSTATUS", "ANSWER"),
            ch.varset(caller, "DIALEDPEERNAME", a.name),
            ch.varset(caller, "DIALEDPEERNUMBER", self.dialstring),
            ch.device_state(device, "INUSE"),
        )
        a.exten = ""
        call.emit(ch.dial_end(caller, a, "ANSWER"))
        self.t_answer = call.vt
        caller.state = STATE_UP
        caller.answered = call.now()
        call.emit(ch.newstate(caller), ch.device_state(call.requested, "INUSE"))
        bridge = call.table.new_bridge()
        call.bridge = bridge
        call.emit(ch.bridge_create(bridge))
        call.answered = True
        one = call.one
        if call.app:
            one.set_app(call.app, call.appdata)
        call.set_state(one, STATE_UP)
        call.emit(ch.dial_end(None, one, "ANSWER"))
        call.newexten(a, 1, "AppDial", "(Outgoing Line)")
        call.emit(ch.bridge_enter(bridge, a), ch.device_state(call.requested, "INUSE"))
        call.send_response("Success", REASON_ANSWERED, one.name, one.uniqueid)
        call.emit(ch.bridge_enter(bridge, caller))
        call.emit(ch.varset(a, "BRIDGEPEER", caller.name), ch.varset(caller, "BRIDGEPEER", a.name))
        b.priority = 3
        call.newexten(b, 3, "Wait", "60")
        # whichever ends first: ;1's application or 110's Wait(60)
        end = min(app_duration(call.app, call.appdata), 60.0)
        await call.wait(end)
        self.teardown_from_originator(0)

    def teardown_from_originator(self, cause: int) -> None:
        """``Hangup Channel: Local/300@demo-...;1`` while bridged (capture g)."""
        call = self.call
        one, two, a, b = call.one, self.caller, self.a, self.b
        bridge = call.bridge
        call.emit(ch.hangup_request(two, cause))
        end = call.now()
        call.emit(ch.cdr(one, end), ch.cdr(two, end))
        call.emit(ch.varset(two, "BRIDGEPEER", ""), ch.varset(a, "BRIDGEPEER", ""))
        call.emit(ch.bridge_leave(bridge, two))
        secs = int(end - (two.answered or end))
        for var, val in (
            ("ANSWEREDTIME", secs),
            ("ANSWEREDTIME_MS", secs * 1000 + 2),
            ("DIALEDTIME", secs),
            ("DIALEDTIME_MS", secs * 1000 + 4),
            ("DIALSTATUS", "ANSWER"),
        ):
            call.emit(ch.varset(two, var, str(val)))
        call.emit(ch.soft_hangup_request(two, 16))
        call.finish_channel(two, 16, cdr=False)
        call.emit(ch.bridge_leave(bridge, a))
        call.finish_channel(one, cause, cdr=False)
        call.emit(ch.hangup_request(b, 16))
        call.finish_channel(a, 16, cdr=False)
        call.emit(ch.bridge_destroy(bridge))
        call.table.bridges.pop(bridge.uniqueid, None)
        call.bridge = None
        call.emit(ch.cdr(b, call.now()), ch.soft_hangup_request(b, 16))
        call.finish_channel(b, 16, cdr=False)
        call.emit(
            ch.device_state(call.requested, "NOT_INUSE"),
            ch.device_state(call.requested, "NOT_INUSE"),
            ch.device_state(a.device, "NOT_INUSE"),
            ch.device_state(a.device, "NOT_INUSE"),
        )


# --- SIP phone calls --------------------------------------------------------

SIP_PEERS = {
    "alice": {"callerid": ("alice", "Alice"), "port": 5061, "dynamic": True},
    "bob": {"callerid": ("bob", "Bob"), "port": 5070, "dynamic": False},
    "carol": {"callerid": ("carol", "Carol"), "port": 5090, "dynamic": False},
    # the provider trunk (sip.conf insecure=invite): no digest challenge
    "provider": {"callerid": ("", ""), "port": 5080, "dynamic": False, "trunk": True},
}


class SipInboundCall(Call):
    """A SIP phone (or the provider trunk) dials an extension.

    Captures d, i1, i2 and ``tests/captures``; the keyword arguments are what
    the SIP phones do, which the dialplan cannot say:

    * ``phones``: how each dialled peer answers, ``{"bob": "busy" | "ring" |
      "answer" | ("answer", seconds_of_ringing)}`` (default: answers at once);
    * ``talk_time``: the caller hangs up (BYE) this long after the callee answered;
    * ``hangup_after``: the caller hangs up this long after it was answered
      (e.g. while waiting in a queue);
    * ``cancel_after``: the caller gives up (CANCEL) this long after its Dial began;
    * ``media``: the caller's phone sends RTP (RTCPSent every 5 s, Answer()
      does not wait for media);
    * ``atxfer``: ``(seconds, exten, context)``: an ``Atxfer`` of the caller's
      channel that long after the bridge, as if an AMI client had sent it;
    * ``early_ringing``: the callee's 180 Ringing beats Dial's DialBegin (a
      race in Asterisk; True/False as recorded);
    * ``caller_id``: the calling number a trunk presents;
    * ``device_event``: publish ``DeviceStateChange SIP/<peer> UNAVAILABLE``
      when the call starts (Asterisk does when that cached state changed;
      default: as in captures d, i1, i2);
    * ``tech``: ``"PJSIP"`` for a phone of a pjsip.conf endpoint (captures
      pjsip_call_*: its own channel, security events and device states).
    """

    kind = "sip"

    def __init__(
        self,
        sim,
        peer: str = "alice",
        exten: str = "100",
        context: str = "demo",
        challenge: bool = True,
        talk_time: float | None = None,
        phones: dict | None = None,
        hangup_after: float | None = None,
        cancel_after: float | None = None,
        media: bool = False,
        atxfer: tuple | None = None,
        early_ringing: bool = False,
        caller_id: str | None = None,
        device_event: bool | None = None,
        tech: str = "SIP",
    ):
        super().__init__(sim)
        self.peer, self.exten, self.context = peer, exten, context
        self.tech = tech
        self.challenge = challenge and not SIP_PEERS.get(peer, {}).get("trunk")
        self.talk_time = talk_time  # caller hangs up after this long once bridged
        self.phones = phones or {}
        self.hangup_after = hangup_after
        self.cancel_after = cancel_after
        self.media = media
        self.atxfer_plan = atxfer
        self.early_ringing = early_ringing
        self.parking = None  # parking.ParkedCaller once parked
        self.caller_id = caller_id
        self.device_event = device_event
        self.callee: Channel | None = None
        self.dial = None  # the pbx.SipDial that bridged the call
        self.rtcp = None
        self.caller_answer_vt: float | None = None
        self.answer_vt = 0.0
        self.playing = None

    def phone(self, peer: str) -> tuple[str, float]:
        """How ``peer``'s phone answers a call: (kind, seconds of ringing first).

        ``phones`` first, then the simulator's ``phone_behaviour``, else it
        answers at once."""
        kind, ring, _ = self._phone(peer)
        return kind, ring

    def phone_talk(self, peer: str) -> float | None:
        """Seconds after answering at which ``peer``'s phone hangs up itself, or None."""
        return self._phone(peer)[2]

    def _phone(self, peer: str) -> tuple[str, float, float | None]:
        spec = self.phones.get(peer)
        if spec is None:
            spec = getattr(self.sim, "phone_behaviour", {}).get(peer)
            if spec is not None:
                return pbx.phone_spec(spec)
        return pbx.phone_spec(spec or "answer", default_ring=0.0)

    def caller_hangup_vt(self) -> float | None:
        """Virtual time at which the caller hangs up its answered call (``hangup_after``)."""
        if self.hangup_after is None or self.caller_answer_vt is None:
            return None
        return self.caller_answer_vt + self.hangup_after

    def setup(self) -> None:
        if self.tech == "PJSIP":
            self._setup_pjsip()
            return
        peer = self.peer
        trunk = SIP_PEERS.get(peer, {}).get("trunk", False)
        port = SIP_PEERS.get(peer, {}).get("port", 5063) if trunk else 5063 + random.randint(0, 5)
        if self.challenge:
            self.sim.publish(
                security_event(
                    self.sim,
                    "ChallengeSent",
                    "Informational",
                    1,
                    [
                        ("AccountID", f"sip:{peer}@127.0.0.1"),
                        ("SessionID", fake_pointer()),
                        ("LocalAddress", "IPV4/UDP/127.0.0.1/5060"),
                        ("RemoteAddress", f"IPV4/UDP/127.0.0.1/{port}"),
                        ("Challenge", f"{random.getrandbits(32):08x}"),
                    ],
                    service="SIP",
                )
            )
        name = f"SIP/{peer}-{self.table.next_suffix('SIP')}"
        if self.caller_id:
            num, cname = parse_callerid(self.caller_id)
        else:
            num, cname = SIP_PEERS.get(peer, {}).get("callerid", (peer, peer.capitalize()))
        chan = self.new_channel(
            name,
            "SIP",
            f"SIP/{peer}",
            self.context,
            self.exten,
            cid_num=num or UNKNOWN,
            cid_name=cname or UNKNOWN,
        )
        chan.cdr_src, chan.cdr_dst, chan.cdr_dcontext = num, self.exten, self.context
        chan.cdr_clid = f'"{cname}" <{num}>'
        self.caller = chan
        user = num if trunk else peer
        self.emit(
            ch.newchannel(chan),
            ch.varset(chan, "SIPURI", f"sip:{user}@127.0.0.1:{port}"),
            ch.varset(chan, "SIPDOMAIN", "127.0.0.1"),
            ch.varset(chan, "SIPCALLID", f"1-{next(_sip_callid)}@127.0.0.1"),
        )
        self.set_state(chan, STATE_RING)
        chan.answered = None
        if trunk:
            # a peer with insecure=invite: chan_sip reports the unauthenticated INVITE
            self.sim.publish(
                security_event(
                    self.sim,
                    "SuccessfulAuth",
                    "Informational",
                    1,
                    [
                        ("AccountID", self.exten),
                        ("SessionID", fake_pointer()),
                        ("LocalAddress", "IPV4/UDP/127.0.0.1/5060"),
                        ("RemoteAddress", f"IPV4/UDP/127.0.0.1/{port}"),
                        ("UsingPassword", "0"),
                    ],
                    service="SIP",
                )
            )
        if self.device_event is None:
            announce = self.exten not in ("bob", "alice", "200", "201")
        else:
            announce = self.device_event
        if announce:
            self.emit(ch.device_state(f"SIP/{peer}", "UNAVAILABLE"))

    def _setup_pjsip(self) -> None:
        """res_pjsip identifies the endpoint by the ``From`` user, challenges
        its INVITE and publishes both sides of the digest exchange (the
        challenge left empty, the session the INVITE's Call-ID); the channel
        is created ringing, with only ``SIPDOMAIN`` set (captures pjsip_call_*)."""
        peer = self.peer
        port = 5063 + random.randint(0, 5)  # the phone's own choice
        local = pbx.pjsip_transport(self.sim)
        call_id = f"1-{next(_sip_callid)}@127.0.0.1"
        if pbx.pjsip_sections(self.sim).get("endpoint", {}).get(peer, {}).get("auth"):
            common = [
                ("AccountID", peer),
                ("SessionID", call_id),
                ("LocalAddress", _sip_address(*local)),
                ("RemoteAddress", _sip_address("127.0.0.1", port)),
            ]
            for name, extra in (
                ("ChallengeSent", ("Challenge", "")),
                ("SuccessfulAuth", ("UsingPassword", "1")),
            ):
                self.sim.publish(
                    security_event(
                        self.sim, name, "Informational", 1, common + [extra], service="PJSIP"
                    )
                )
        num, cname = pbx.endpoint_config(self.sim, peer)["callerid"]
        chan = self.new_channel(
            f"PJSIP/{peer}-{self.table.next_suffix('PJSIP')}",
            "PJSIP",
            f"PJSIP/{peer}",
            self.context,
            self.exten,
            state=STATE_RING,
            cid_num=num or UNKNOWN,
            cid_name=cname or UNKNOWN,
        )
        chan.pvt_call_id = call_id
        chan.cdr_src, chan.cdr_dst, chan.cdr_dcontext = num, self.exten, self.context
        chan.cdr_clid = ch.cdr_clid(num, cname)
        self.caller = chan
        self.emit(ch.newchannel(chan), ch.varset(chan, "SIPDOMAIN", local[0]))

    async def run(self) -> None:
        try:
            with contextlib.suppress(EndOfDialplan, HangupNow, pbx.CallerGone):
                await self.run_dialplan(self.caller, self.context, self.exten)
            if self.caller.alive:
                self.sip_hangup(self.caller, self.caller.hangup_cause or 16)
            self.release_lingering()
            for c in self.alive():
                self.sip_hangup(c)
            self.devices_idle()
        finally:
            if self.rtcp is not None and not self.alive():
                self.rtcp.stop()

    def sip_hangup(self, chan: Channel, cause: int = 16, cdr: bool = True) -> None:
        """Asterisk hangs up a SIP channel (its dialplan ended)."""
        self.emit(ch.soft_hangup_request(chan, 16))
        if chan.answered:  # an unanswered channel never set up RTP statistics
            # chan_pjsip sets RTPAUDIOQOS once (capture originate_pjsip_auto_answer)
            pjsip = chan.name.startswith("PJSIP/")
            stats = pbx.qos_stats(71) if pjsip else rtcp_vars(random.getrandbits(31), 71)
            for k, v in stats:
                self.emit(ch.varset(chan, k, v))
        elif chan.tech == "PJSIP":
            # chan_pjsip answers the INVITE with the SIP response of the
            # cause, shown as the tech cause (capture pjsip_call_busy: 486)
            chan.tech_cause = pbx.SIP_RESPONSES.get(cause)
        # the Dial's PJSIP channel ends on its own thread: before the caller
        # (capture pjsip_call_noanswer) or after it (pjsip_call_busy)
        late = self.sim.races.get("late_leg_hangup")
        if not late:
            self.release_lingering()
        if cdr and (chan.cdr_records or chan.cdr_start is not None):
            self.finish_channel(chan, cause, cdr=False)
            pbx.close_records(self, chan)
            if chan.cdr_start is not None:  # what the dialplan did after a failed Dial
                self.emit(
                    ch.cdr_record(
                        chan,
                        start=chan.cdr_start,
                        answer=None,
                        end=self.now(),
                        disposition=chan.cdr_disposition,
                        dstchannel="",
                    )
                )
        else:
            self.finish_channel(chan, cause, cdr=cdr)
        if late:
            self.release_lingering()

    def deadline(self, chan):
        if self.talk_time is not None and self.callee is not None:
            return (self.answer_vt + self.talk_time, "caller_hangup")
        return None

    async def app_answer(self, chan, data):
        if chan.state == STATE_UP:
            return
        self.on_answer(chan)
        if chan is self.caller:
            self.caller_answer_vt = self.vt
        if not self.media:  # Answer() waits up to 500 ms for a first voice frame
            await self.dp_wait(chan, pbx.ANSWER_MEDIA_WAIT)

    # Dial(SIP/bob,20,tT), Dial(SIP/bob&SIP/carol,20), Dial(PJSIP/dave,20,tT)
    async def app_dial(self, chan: Channel, data: str):
        if data.split(",")[0].split("/")[0].upper() not in ("SIP", "PJSIP"):
            return await self.dp_wait(chan, 0)
        dial = pbx.SipDial(self, chan, data)
        self.dial = dial
        status = await dial.run()
        if status != "ANSWER":
            return None  # the dialplan goes on (DIALSTATUS is set)
        self.callee = dial.answered
        self.answer_vt = self.vt
        if self.media:
            self.rtcp = pbx.RtcpReporter(self, chan, [self.callee])
        if self.atxfer_plan is not None:
            delay, exten, context = self.atxfer_plan
            talk_left = None if self.talk_time is None else max(0.0, self.talk_time - delay)
            self.at(
                delay,
                lambda: chan.alive and self.bridge and self.atxfer(chan, context, exten, talk_left),
            )
        caller_end = self.talk_time if self.talk_time is not None else 86400.0
        peer = dial.peers[dial.legs.index(self.callee)]
        callee_end = self.phone_talk(peer)
        if callee_end is not None and callee_end < caller_end:
            await self.wait(callee_end)  # the dialled phone hangs up first
            if self.parking is None:
                dial.callee_bye()
                raise EndOfDialplan()
            await self.wait(caller_end - callee_end)
        else:
            await self.wait(caller_end)
        if self.parking is not None:
            self.parking.caller_bye()
        else:
            dial.caller_bye()
        raise EndOfDialplan()

    def can_park(self, chan: Channel) -> bool:
        return (
            chan is self.caller
            and self.parking is None
            and self.bridge is not None
            and self.callee in self.bridge.channels
        )

    def park(self, chan: Channel, parker: Channel | None, lot: tuple) -> None:
        from .parking import ParkedCaller  # parking imports this module

        self.parking = ParkedCaller(self, parker, lot)

    def force_cleanup(self) -> None:
        super().force_cleanup()
        if self.rtcp is not None:
            self.rtcp.stop()

    def remaining_talk(self) -> float | None:
        """Virtual seconds until the caller hangs up the bridged call (``talk_time``)."""
        if self.talk_time is None or self.dial is None or self.dial.answered is None:
            return None
        return max(0.0, self.dial.answer_time + self.talk_time - self.now())

    def _dial_result_vars(self, caller: Channel) -> list:
        secs = int(self.vt - self.answer_vt) if self.callee else 0
        return [
            ("ANSWEREDTIME", str(secs)),
            ("ANSWEREDTIME_MS", str(secs * 1000 + 1)),
            ("DIALEDTIME", str(secs)),
            ("DIALEDTIME_MS", str(secs * 1000 + 3)),
        ]

    def redirect(self, chan, context, exten, priority, extra=None, extra_target=None):
        """Redirect of one party of the alice<->bob bridge (capture i1)."""
        if self.bridge is None or chan not in self.bridge.channels or extra is not None:
            return super().redirect(chan, context, exten, priority, extra, extra_target)
        self.interrupt()
        moved = chan
        other = self.caller if moved is not self.caller else self.callee
        bridge = self.bridge
        self.emit(ch.varset(moved, "BRIDGEPEER", ""), ch.varset(moved, "BRIDGEPVTCALLID", ""))
        moved.context, moved.exten = context, exten
        self.newexten(moved, priority, moved.appl or "AppDial", moved.data or "(Outgoing Line)")
        self.emit(ch.varset(other, "BRIDGEPEER", ""), ch.varset(other, "BRIDGEPVTCALLID", ""))
        self.emit(ch.bridge_leave(bridge, moved))

        async def go():
            t = asyncio.create_task(self._run_redirected(moved, context, exten, priority + 1))
            await asyncio.sleep(0)
            self._leave_and_end(other, bridge)
            await t

        self.continue_with(go())
        return None

    async def _run_redirected(self, chan, context, exten, prio) -> None:
        # back in the dialplan, the channel is the party A of a CDR of its own
        # (bob's in i1 and i2: Source bob, Destination 100)
        num = chan.cid_num if chan.cid_num != UNKNOWN else ""
        chan.cdr_src, chan.cdr_dst, chan.cdr_dcontext = num, exten, context
        chan.cdr_clid = ch.cdr_clid(num, chan.cid_name if chan.cid_name != UNKNOWN else "")
        with contextlib.suppress(EndOfDialplan, HangupNow):
            await self.run_dialplan(chan, context, exten, prio)
        if chan.alive:
            # cdr before the last Newexten, as published by Asterisk (capture i1)
            self.sip_hangup(chan)

    def _leave_and_end(self, other: Channel, bridge) -> None:
        """The party left alone in the bridge leaves, its Dial returns, it hangs up."""
        self.emit(ch.bridge_leave(bridge, other), ch.bridge_destroy(bridge))
        self.table.bridges.pop(bridge.uniqueid, None)
        self.bridge = None
        for k, v in self._dial_result_vars(other):
            self.emit(ch.varset(other, k, v))
        self.emit(ch.varset(other, "DIALSTATUS", "ANSWER"))
        self.sip_hangup(other)

    def blind_transfer_error(self, chan, context, exten):
        if self.bridge is None or chan not in self.bridge.channels:
            return "Transfer invalid"
        if not self.dialplan.exists(context or chan.context, exten):
            return "Transfer failed"
        return None

    def blind_transfer(self, chan, context, exten):
        """BlindTransfer of the transferer ``chan``; its peer goes to ``exten`` (capture i2)."""
        self.interrupt()
        context = context or chan.context
        transferer = chan
        transferee = self.callee if chan is self.caller else self.caller
        bridge = self.bridge
        pairs = [("Event", "BlindTransfer"), ("Result", "Success")]
        pairs += transferer.snapshot("Transferer") + transferee.snapshot("Transferee")

        def go_sync():
            self.emit(
                ev_plain("Unhold", transferer),
                ch.varset(transferee, "BLINDTRANSFER", transferer.name),
                ch.varset(transferer, "BLINDTRANSFER", transferee.name),
                ch.varset(transferer, "BRIDGEPEER", ""),
                ch.varset(transferer, "BRIDGEPVTCALLID", ""),
            )
            self.emit(
                (
                    CALL,
                    pairs
                    + bridge.snapshot()
                    + [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)],
                )
            )
            self.emit(ch.bridge_leave(bridge, transferer))
            res = self._dial_result_vars(transferer)
            self.emit(*(ch.varset(transferer, k, v) for k, v in res[:2]))
            self.emit(
                ch.varset(transferee, "BRIDGEPEER", ""),
                ch.varset(transferee, "BRIDGEPVTCALLID", ""),
            )
            self.emit(*(ch.varset(transferer, k, v) for k, v in res[2:]))
            transferee.context, transferee.exten = context, exten
            self.newexten(transferee, 1, "AppDial", "(Outgoing Line)")
            self.emit(
                ch.varset(transferer, "DIALSTATUS", "ANSWER"),
                ch.soft_hangup_request(transferer, 16),
            )
            stats = rtcp_vars(random.getrandbits(31), 0)
            self.emit(ch.varset(transferer, *stats[0]), ch.bridge_leave(bridge, transferee))
            self.emit(*(ch.varset(transferer, k, v) for k, v in stats[1:]))
            self.finish_channel(transferer, 16)
            self.emit(ch.bridge_destroy(bridge))
            self.table.bridges.pop(bridge.uniqueid, None)
            self.bridge = None

        async def go():
            go_sync()
            await self._run_redirected(transferee, context, exten, 2)

        self.continue_with(go())

    def atxfer(self, chan, context, exten, talk_left=None):
        """``Atxfer``: ``chan`` consults ``exten`` through the ``*2`` feature
        (capture attended_transfer); the transfer completes when ``chan``
        hangs up (its ``talk_time``; 2.5 s after the Atxfer without one).
        ``talk_left``: the virtual seconds of talk left, when scripted."""
        if self.bridge is None or chan not in self.bridge.channels:
            return "Channel specified does not exist"
        self.interrupt()
        transferee = next(c for c in self.bridge.channels if c is not chan)
        xfer = pbx.AttendedTransfer(self, chan, transferee, context or chan.context, exten)
        remaining = self.remaining_talk() if talk_left is None else talk_left

        async def go():
            await xfer.run(remaining if remaining is not None else 2.5)
            if xfer.completed or not chan.alive:
                return
            # the target left before the transfer completed: back to the first call
            await self.wait(self.remaining_talk() or 86400.0)
            if self.dial is not None and self.dial.answered is not None:
                self.dial.caller_bye()

        self.continue_with(go())
        return None

    # Queue(support,,,,30) on an answered caller
    async def app_queue(self, chan: Channel, data: str):
        await pbx.QueueApp(self, chan, data).run()


def ev_plain(name: str, chan: Channel, extra: list | None = None):
    return CALL, [("Event", name)] + chan.snapshot() + (extra or [])


def fake_pointer() -> str:
    """Asterisk shows session ids as C pointers (``SessionID: 0x7fe938001b40``)."""
    return f"0x{random.randrange(0x7F0000000000, 0x7FFFFFFFFFFF):x}"


def security_event(
    sim, name: str, severity: str, version: int, fields: list, service: str = "AMI"
) -> tuple:
    """A res_security_log style event (captures d, e, f, l)."""
    from .channels import SECURITY

    pairs = [
        ("Event", name),
        ("EventTV", sim.event_tv()),
        ("Severity", severity),
        ("Service", service),
        ("EventVersion", str(version)),
    ] + fields
    return SECURITY, pairs


# --- SIP registration scenarios (captures f and l) ---------------------------


def _sip_address(address: str, port: int) -> str:
    """``RemoteAddress`` as security_events.c writes it (IPv6 without brackets)."""
    family = "IPV6" if ":" in address else "IPV4"
    return f"{family}/UDP/{address}/{port}"


def _sip_challenge(sim, peer: str, port: int, address: str = "127.0.0.1") -> tuple[list, str]:
    """What every REGISTER starts with: the security-event fields of its SIP
    session and the ChallengeSent event.  Returns (those fields, the challenge)."""
    sid = fake_pointer()
    challenge = f"{random.getrandbits(32):08x}"
    common = [
        ("AccountID", peer),
        ("SessionID", sid),
        ("LocalAddress", "IPV4/UDP/127.0.0.1/5060"),
        ("RemoteAddress", _sip_address(address, port)),
    ]
    sim.publish(
        security_event(
            sim, "ChallengeSent", "Informational", 1, common + [("Challenge", challenge)], "SIP"
        )
    )
    return common, challenge


def _sip_peer_status(sim, peer: str, status: str, extra: list) -> None:
    sim.publish(
        (
            ch.SYSTEM,
            [
                ("Event", "PeerStatus"),
                ("ChannelType", "SIP"),
                ("Peer", f"SIP/{peer}"),
                ("PeerStatus", status),
            ]
            + extra,
        )
    )


def _sip_successful_auth(sim, common: list) -> None:
    sim.publish(
        security_event(
            sim, "SuccessfulAuth", "Informational", 1, common + [("UsingPassword", "1")], "SIP"
        )
    )


def sip_register(sim, peer: str = "alice", port: int = 5061) -> None:
    common, _ = _sip_challenge(sim, peer, port)
    _sip_peer_status(sim, peer, "Registered", [("Address", f"127.0.0.1:{port}")])
    _sip_successful_auth(sim, common)
    sim.publish(ch.device_state(f"SIP/{peer}", "NOT_INUSE"))
    sim.sip_registrations[peer] = port


def sip_unregister(sim, peer: str = "alice", port: int = 5061) -> None:
    common, _ = _sip_challenge(sim, peer, port)
    sim.publish(ch.device_state(f"SIP/{peer}", "UNAVAILABLE"))
    _sip_peer_status(sim, peer, "Unregistered", [("Cause", "Expired")])
    _sip_successful_auth(sim, common)
    sim.sip_registrations.pop(peer, None)


def sip_register_failed(
    sim, peer: str = "alice", port: int = 5064, address: str = "127.0.0.1"
) -> None:
    """REGISTER with a wrong password (or an unknown user: same events, capture f),
    from ``address`` (an attacker's, say)."""
    common, challenge = _sip_challenge(sim, peer, port, address)
    sim.publish(
        security_event(
            sim,
            "InvalidPassword",
            "Error",
            2,
            common
            + [
                ("Challenge", challenge),
                ("ReceivedChallenge", challenge),
                ("ReceivedHash", f"{random.getrandbits(128):032x}"),
            ],
            "SIP",
        )
    )


def sip_scan(sim, addresses, attempts: int = 5, accounts=("100", "101", "admin")) -> None:
    """A SIP scanner (SIPVicious-like) from each of ``addresses``: ``attempts``
    failed REGISTERs each, as fast as the PBX can tell (a flood of security
    events), cycling through ``accounts``."""
    for index in range(attempts):
        for address in addresses:
            sip_register_failed(sim, accounts[index % len(accounts)], 5060 + index % 1000, address)


# --- registry used by start_call() / --scenario ------------------------------


def _originate(exten, app="Wait", data="3", timeout=30.0):
    def factory(sim, **kw):
        kw.setdefault("exten", exten)
        kw.setdefault("context", "demo")
        kw.setdefault("app", app)
        kw.setdefault("appdata", data)
        kw.setdefault("cid", ("9000", "Odoo"))
        kw.setdefault("timeout", timeout)
        return LocalOriginateCall(sim, **kw)

    return factory


def _sip(exten, **defaults):
    def factory(sim, **kw):
        for k, v in defaults.items():
            kw.setdefault(k, v)
        kw.setdefault("exten", exten)
        return SipInboundCall(sim, **kw)

    return factory


SCENARIOS = {
    # Originate-driven (the response events are published without ActionID)
    "answered": _originate("100", "Wait", "3"),
    "busy": _originate("busy", "Wait", "3", 15.0),
    "noanswer": _originate("noanswer", "Wait", "3", 6.0),
    "bridged_local": _originate("300", "Wait", "30"),
    "long_call": _originate("110", "Wait", "60"),
    # SIP phones
    "sip_call": _sip("100", peer="alice"),
    "alice_calls_bob": _sip("bob", peer="alice"),
    "two_users": _sip("bob", peer="alice", talk_time=5.0),
    # recorded in tests/captures (the phones' behaviour as sipp played it)
    "queue": _sip("600", peer="alice", device_event=False),
    "queue_abandoned": _sip("601", peer="alice", hangup_after=4.0, device_event=False),
    "sip_busy": _sip("bob", peer="alice", phones={"bob": "busy"}),
    "sip_noanswer": _sip(
        "202", peer="alice", phones={"bob": "ring"}, early_ringing=True, device_event=False
    ),
    "sip_cancel": _sip("bob", peer="alice", phones={"bob": "ring"}, cancel_after=2.0),
    "inbound_ring_group": _sip(
        "0155512345",
        peer="provider",
        context="from-trunk",
        caller_id="+33612345678",
        phones={"bob": ("answer", 2.0), "carol": "ring"},
        talk_time=4.0,
        device_event=False,
    ),
    "attended_transfer": _sip(
        "bob",
        peer="alice",
        phones={"bob": ("answer", 1.0)},
        early_ringing=True,
        media=True,
        talk_time=7.0,
        atxfer=(2.0, "111", "demo"),
    ),
    # calls between PJSIP phones (asterisk_config_additions_pjsip*.diff): erin
    # dials dave (Dial(PJSIP/dave,20,tT)) or 204 (the same with 5 s)
    "pjsip_call_answered": _sip(
        "dave", peer="erin", tech="PJSIP", phones={"dave": ("answer", 1.0)}, talk_time=3.0
    ),
    "pjsip_call_busy": _sip("dave", peer="erin", tech="PJSIP", phones={"dave": "busy"}),
    "pjsip_call_noanswer": _sip("204", peer="erin", tech="PJSIP", phones={"dave": "ring"}),
    # erin dials davebob: Dial(PJSIP/dave&SIP/bob,20), a PJSIP and a chan_sip phone
    "pjsip_ring_group": _sip(
        "davebob",
        peer="erin",
        tech="PJSIP",
        phones={"dave": "ring", "bob": ("answer", 2.0)},
        talk_time=3.0,
    ),
    # alice dials an outside number: demo's _0XXXXXXXXX, Dial(SIP/provider/${EXTEN},30,tT)
    "outbound_trunk": _sip(
        "0612345678", peer="alice", phones={"provider": ("answer", 1.0)}, talk_time=4.0
    ),
    # the trunk's recorded line: MixMonitor(${UNIQUEID}.wav,b), Dial(SIP/bob,20)
    "recorded_inbound": _sip(
        "0155512346",
        peer="provider",
        context="from-trunk",
        caller_id="+33612345678",
        phones={"bob": ("answer", 1.0)},
        talk_time=4.0,
        device_event=False,
    ),
}
EVENT_SCENARIOS = {
    "sip_register": sip_register,
    "sip_unregister": sip_unregister,
    "sip_register_failed": sip_register_failed,
    "sip_scan": sip_scan,
}
