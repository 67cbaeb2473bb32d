"""Dial's pre-dial handler on the dialled channels: the ``b()`` option.

``Dial(SIP/bob&SIP/carol,30,b(context^exten^priority(arg1^arg2)))``: once
Dial has created every dialled channel and before it calls any
(app_dial.c), each of them runs that Gosub (app_stack.c ``gosub_run``,
through ``ast_pre_call``: chan_sip has no ``pre_call`` of its own), one after
the other, on Dial's thread. Recorded with Odoo's ``odoo-originate`` context
(``asterisk_calls/tools/originate.py``) in ``tests/captures``
``originate_ring_auto_answer``, ``originate_ring_auto_answer_busy`` and
``originate_ring_two_headers``; what a dialled channel publishes there:

* ``VarSet LOCAL(ARG1)``, ``LOCAL(ARG2)``..., ``LOCAL(ARGC)``, still at its
  location before the Gosub (no snapshot is published in between);
* a ``Newexten`` per priority it runs, at the subroutine's location;
  ``GotoIf``, ``SIPAddHeader`` (``VarSet __SIPADDHEADER01``), ``Set`` and
  ``Return`` are the applications modelled (others run as a NoOp), with the
  functions of :func:`.scenarios.substitute` (``FIELDNUM``, ``CUT``,
  ``${CHANNEL:0:-9}``);
* on ``Return`` (or at the end of the extension): ``VarSet ARGC``, ...,
  ``ARG1`` emptied, then ``GOSUB_RETVAL``, still at the subroutine's last
  location: the location is set back without a new snapshot, so its
  ``DialBegin`` shows the subroutine's location too, and its next new
  snapshot (its ``Newstate Ringing``) is followed by a ``Newexten``
  (:attr:`.channels.Channel.shown_location`).

Labels, nested Gosubs, a hangup during the handler and PJSIP's own
``pre_call`` are not modelled.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import channels as ch
from . import pbx
from . import scenarios as sc
from .channels import DIALPLAN, Channel

if TYPE_CHECKING:  # pragma: no cover
    from .scenarios import Call

# chan_sip.c sip_addheader() looks for a free __SIPADDHEADERnn while no <= 50,
# incrementing first: 01 to 51
MAX_SIP_HEADERS = 51


def app_options(text: str) -> dict[str, str | None]:
    """app.c ``ast_app_parse_options``: each option letter, with its
    ``(argument)`` when one follows (parentheses inside it balanced)."""
    options: dict[str, str | None] = {}
    i = 0
    while i < len(text):
        letter, i = text[i], i + 1
        argument = None
        if text[i : i + 1] == "(":
            depth, start = 1, i + 1
            i = start
            while i < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            argument = text[start : i - 1] if depth == 0 else text[start:]
        options[letter] = argument
    return options


def predial_callee(call: Call, caller: Channel, legs: list[Channel], data: str) -> None:
    """``Dial(<data>)`` of ``caller`` has created ``legs``: run its ``b()``
    handler on each of them, in dial order (none without the option, or with
    an empty one: capture originate_ring_no_header)."""
    args = sc.separate_args(data)
    handler = app_options(args[2]).get("b") if len(args) > 2 else None
    if not handler or not legs:
        return
    # ast_replace_subargument_delimiter, then expand_gosub_args(): the missing
    # context and extension are the caller's
    label, paren, rest = handler.replace("^", ",").partition("(")
    context, exten, priority = split_label(label)
    arguments = rest[: rest.rfind(")")] if ")" in rest else rest
    for leg in legs:
        gosub(
            call,
            leg,
            context or caller.context,
            exten or caller.exten,
            priority,
            arguments.split(",") if paren else [],
        )


def split_label(label: str) -> tuple[str, str, str]:
    """``[[context,]exten,]priority`` -> (context, exten, priority), ``""``
    for what is not given (strsep() thrice: a fourth part is dropped)."""
    parts = label.split(",")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return parts[0], parts[1], parts[2]


def gosub(
    call: Call, chan: Channel, context: str, exten: str, priority: str, arguments: list[str]
) -> None:
    """app_stack.c ``gosub_run``: ``Gosub(context,exten,priority(arguments))``
    on ``chan``, a channel no PBX runs."""
    if not priority.isdigit() or call.dialplan.lookup(context, exten, int(priority)) is None:
        return  # "attempted to reach non-existent destination": nothing published
    saved = (chan.context, chan.exten, chan.priority)
    # gosub_exec(): the arguments, published as LOCAL(), at the old location
    if arguments == [""]:
        arguments = []  # "()": AST_STANDARD_RAW_ARGS finds no argument
    frame = [(f"ARG{n}", value) for n, value in enumerate(arguments, 1)]
    frame.append(("ARGC", str(len(arguments))))
    for name, value in frame:
        chan.variables[name] = value  # pbx_builtin_pushvar_helper: no VarSet of its own
        local = [("Variable", f"LOCAL({name})"), ("Value", value)]
        call.emit(ch.ev("VarSet", DIALPLAN, chan.snapshot(), local))
    prio, retval = int(priority), ""
    while True:
        step = call.dialplan.lookup(context, exten, prio)
        if step is None:
            break  # "Abnormal 'Gosub' exit": balance_stack() does what Return does
        app, data = step
        chan.context, chan.exten, chan.priority = context, exten, prio
        data = sc.substitute(chan, data)
        # pbx_exec() puts the channel's appl and data back after each
        # application (AppDial, what its next Newexten shows): left as they are
        call.emit(ch.newexten(chan, app, data))
        low = app.lower()
        if low == "return":
            retval = data
            break
        target = _run(call, chan, low, data)
        if target is not None:
            context, exten, prio = target
        else:
            prio += 1
    # gosub_release_frame(): the arguments go, newest first (a VarSet for
    # each that was not empty), then Return's value
    for name, value in reversed(frame):
        if value:
            call.emit(ch.varset(chan, name, ""))
        chan.variables.pop(name, None)
    call.emit(ch.varset(chan, "GOSUB_RETVAL", retval))
    # the location is set back without a new snapshot
    if (chan.context, chan.exten, chan.priority) != saved:
        chan.shown_location = (chan.context, chan.exten, chan.priority)
    chan.context, chan.exten, chan.priority = saved


def _run(call: Call, chan: Channel, app: str, data: str) -> tuple[str, str, int] | None:
    """One application of the handler; returns where a ``GotoIf`` jumps."""
    if app == "gotoif":
        # pbx_builtin_gotoif: condition?iftrue[:iffalse], pbx_checkcondition()
        condition, _, labels = data.partition("?")
        iftrue, _, iffalse = labels.partition(":")
        label = iftrue if _true(condition) else iffalse
        if not label:
            return None
        context, exten, priority = split_label(label)
        if not priority.isdigit():
            return None  # a label name, n, +1: not modelled
        return context or chan.context, exten or chan.exten, int(priority)
    if app == "sipaddheader" and data:
        # the first of __SIPADDHEADER01..50 not set (inherited ones count);
        # ast_get_encoded_str()'s escapes are not decoded
        for n in range(1, MAX_SIP_HEADERS + 1):
            name = f"__SIPADDHEADER{n:02d}"
            if sc.get_variable(chan, name) is None:
                call.emit(ch.varset(chan, name, data))
                break
    elif app == "set":
        name, _, value = data.partition("=")
        # a function's write (PJSIP_HEADER(add,...), which fails on a SIP
        # channel) sets no variable
        if name and not name.endswith(")"):
            call.emit(ch.varset(chan, name, value))
        else:
            pbx.write_pjsip_header(chan, name, value)
    return None


def _true(condition: str) -> bool:
    """``pbx_checkcondition``: empty is false, what ``sscanf("%30d")`` reads
    is its value, other text is true."""
    number = re.match(r"\s*([+-]?\d+)", condition)
    return int(number.group(1)) != 0 if number else bool(condition)
