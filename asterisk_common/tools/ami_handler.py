"""Which model methods the events map may call.

The events map is data an admin edits; it must not become a way to call any
method of any model. A method is a valid target only when it (or the method it
overrides) is decorated with :func:`ami_handler`.
"""

import collections
import functools

from odoo import _
from odoo.exceptions import AccessError


def ami_handler(func=None, *, batch=False, independent=False):
    """Declare ``func(self, event)`` as a target of the AMI events map.

    ``event`` is a ``dict`` of the AMI message's keys (repeated keys as lists)
    plus what the worker knows about it (keys starting with ``_``, see the
    README). The worker calls the method on an empty recordset, as superuser,
    in a savepoint. Handlers must be cheap and idempotent: an event can be
    replayed after a database outage.

    ``@ami_handler(batch=True)`` declares ``func(self, events)``: the worker
    passes a list of consecutive events mapped to this method (in arrival
    order, each call's events in order) so that the handler can load and write
    many rows at once. If the call raises, the worker rolls it back and calls
    the method again once per event, each in its own savepoint, so one bad
    event does not lose its neighbours.

    ``independent=True`` (with ``batch=True``) declares that the handler
    neither reads what other handlers write nor writes what they read, so
    the worker may gather all its events of a transaction into one call, ahead
    of or after other independent handlers' events (each handler still gets
    its own events in arrival order). Without it, a handler's call is a
    barrier: it sees every earlier event of the transaction handled, and no
    later one. Mixed streams (a device state between two channel events) are
    where this pays: without it, a handler's batches stay a few events long.

    A handler trusts its event, so only superuser code may call it: not a user
    through RPC, who could forge events (fake call notices, for one).
    """
    if func is None:
        return functools.partial(ami_handler, batch=batch, independent=independent)
    if independent and not batch:
        raise TypeError("independent=True needs batch=True: only batches are gathered")

    @functools.wraps(func)
    def handler(self, event, *args, **kwargs):
        if not self.env.su:
            raise AccessError(_("AMI handlers are called by the AMI worker only."))
        return func(self, event, *args, **kwargs)

    handler._ami_handler = True
    handler._ami_batch = batch
    handler._ami_independent = independent
    return handler


def events_by_server(env, events):
    """``(server, its events)`` pairs of a batch handler's ``events``, each list
    in arrival order; an event without ``_server_id`` did not come from the worker."""
    by_server = collections.defaultdict(list)
    for event in events:
        server_id = event.get("_server_id")
        if not server_id:
            raise ValueError("event without _server_id: not from the AMI worker")
        by_server[server_id].append(event)
    Server = env["asterisk_common.server"]
    return [(Server.browse(server_id), batch) for server_id, batch in by_server.items()]


def _declaration(model, method_name):
    if not isinstance(method_name, str) or not method_name.isidentifier():
        return None
    for klass in type(model).__mro__:
        func = klass.__dict__.get(method_name)
        if func is not None and getattr(func, "_ami_handler", False):
            return func
    return None


def is_ami_handler(model, method_name):
    """True if ``method_name`` on ``model`` was declared with :func:`ami_handler`.

    Overrides keep the declaration of the method they override, so inheriting
    a handler to extend it does not need the decorator again.
    """
    return _declaration(model, method_name) is not None


def is_batch_handler(model, method_name):
    """True if the handler takes a list of events (``@ami_handler(batch=True)``)."""
    func = _declaration(model, method_name)
    return bool(func is not None and func._ami_batch)


def is_independent_handler(model, method_name):
    """True if the worker may gather the handler's events across other
    independent handlers' (``@ami_handler(batch=True, independent=True)``)."""
    func = _declaration(model, method_name)
    return bool(func is not None and func._ami_independent)
