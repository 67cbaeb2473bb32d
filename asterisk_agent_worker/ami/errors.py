"""The AMI client's errors, all :class:`AmiError`.

An AMI-level error (``Response: Error``) is *not* an exception: it is a reply
with ``ok = False``, so the caller can store it like any other reply.
"""


class AmiError(Exception):
    """Base class of the client's errors."""


class AmiNotConnected(AmiError):
    """No logged-in connection: the action was not sent."""


class AmiConnectionLost(AmiError):
    """The connection dropped after the action was sent: outcome unknown.

    Do not blindly retry: an ``Originate`` may have been placed.
    """


class AmiInvalidAction(AmiError, ValueError):
    """The action cannot be sent as given (no ``Action``, bad header name, ActionID in use)."""


class AmiTimeout(AmiError, TimeoutError):
    """No complete reply in time.  ``partial`` is an :class:`AmiReply` of what arrived, or None."""

    def __init__(self, message, partial=None):
        super().__init__(message)
        self.partial = partial


class AuthFailed(AmiError):
    """Login refused by Asterisk (internal: drives the backoff)."""
