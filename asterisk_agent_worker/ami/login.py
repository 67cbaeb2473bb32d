"""``Login``, with the MD5 challenge (the secret never crosses the wire) or plain."""

from __future__ import annotations

import hashlib

from .action import Request
from .errors import AuthFailed


async def login(request: Request, username: str, secret: str, *, md5: bool, events: str):
    """Log in; ``events`` is the ``Events`` mask.  :class:`AuthFailed` when refused."""
    if md5:
        challenge = await request({"Action": "Challenge", "AuthType": "MD5"})
        if not challenge.ok or not challenge.get("Challenge"):
            raise AuthFailed(challenge.message or "MD5 challenge refused")
        # MD5 is what AMI mandates; usedforsecurity=False keeps FIPS builds working.
        key = hashlib.md5(
            (challenge.get("Challenge") + secret).encode(), usedforsecurity=False
        ).hexdigest()
        fields = {"Action": "Login", "AuthType": "MD5", "Username": username, "Key": key}
    else:
        fields = {"Action": "Login", "Username": username, "Secret": secret}
    fields["Events"] = events
    reply = await request(fields)
    if not reply.ok:
        raise AuthFailed(reply.message or "Authentication failed")
