"""Which model methods the events map may call.

The events map is data an admin edits; it must not become a way to call any
method of any model. A method is a valid target only when it (or the method it
overrides) is decorated with :func:`ami_handler`.
"""

import functools

from odoo import _
from odoo.exceptions import AccessError


def ami_handler(func):
    """Declare ``func(self, event)`` as a target of the AMI events map.

    ``event`` is a ``dict`` of the AMI message's keys (repeated keys as lists);
    the worker calls the method on an empty recordset, as superuser, in a
    savepoint. Handlers must be cheap and idempotent: an event can be replayed
    after a database outage.

    A handler trusts its event, so only superuser code may call it: not a user
    through RPC, who could forge events (fake call notices, for one).
    """

    @functools.wraps(func)
    def handler(self, event, *args, **kwargs):
        if not self.env.su:
            raise AccessError(_("AMI handlers are called by the AMI worker only."))
        return func(self, event, *args, **kwargs)

    handler._ami_handler = True
    return handler


def is_ami_handler(model, method_name):
    """True if ``method_name`` on ``model`` was declared with :func:`ami_handler`.

    Overrides keep the declaration of the method they override, so inheriting
    a handler to extend it does not need the decorator again.
    """
    if not isinstance(method_name, str) or not method_name.isidentifier():
        return False
    for klass in type(model).__mro__:
        func = klass.__dict__.get(method_name)
        if func is not None and getattr(func, "_ami_handler", False):
            return True
    return False
