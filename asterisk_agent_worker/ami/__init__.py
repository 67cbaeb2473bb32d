"""Hardened asyncio AMI client (Asterisk Manager Interface) built on panoramisk 1.4.

Pure asyncio + panoramisk + stdlib: nothing here imports Odoo, so the package is
testable alone and usable from a forked worker process.  One :class:`AmiClient`
per Asterisk server, all of them in the same event loop.

One idea per module; each imports only those above it:

* ``errors``: :class:`AmiError` and its kinds;
* ``message``: one frame parsed into an :class:`AmiMessage`;
* ``action``: :class:`AmiAction` (encoding, completion) and :class:`AmiReply`;
* ``intake``: what becomes of what is read: wanted or dropped, delivered, counted;
* ``filters``: what Asterisk sends a session (``Events`` mask, ``Filter``s);
* ``login``: ``Login``, MD5 or plain;
* ``protocol``: :class:`AmiProtocol`, bytes to messages and pending actions;
* ``client``: :class:`AmiClient`, the supervisor: sessions, reconnect, keepalive,
  actions, live reconfiguration, health.

Why not panoramisk's ``Manager`` itself: its reconnect (fixed delay, from
callbacks), login (no timeout), ping (no check) and action replay are exactly
the weak parts, so :class:`AmiClient` takes the Manager's role and keeps
panoramisk's wire objects: :class:`AmiProtocol` subclasses ``AMIProtocol``,
:class:`AmiMessage` subclasses ``Message`` (same case-insensitive access,
``.success``, ``.getdict()`` ...), :class:`AmiAction` subclasses ``Action``.
"""

from .action import AmiAction, AmiReply
from .client import AmiClient
from .errors import (
    AmiConnectionLost,
    AmiError,
    AmiInvalidAction,
    AmiNotConnected,
    AmiTimeout,
)
from .message import AmiMessage
from .protocol import AmiProtocol

__all__ = [
    "AmiAction",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiInvalidAction",
    "AmiMessage",
    "AmiNotConnected",
    "AmiProtocol",
    "AmiReply",
    "AmiTimeout",
]
