"""A server this process leads, and the AMI client settings from its row."""

import ssl
import time


class ServerLink:
    """A server this process leads: its settings and its AMI client."""

    def __init__(self, row):
        self.id = row["id"]
        self.row = row
        self.client = None
        self.state = "connecting"
        self.state_since = time.time()
        self.last_error = None

    def set_state(self, state, error=None):
        if self.state != state:
            self.state, self.state_since = state, time.time()
        if error:
            self.last_error = error


_SSL_CONTEXTS = {}


def _ssl_context(verify):
    # One context per kind: AmiClient.update() compares settings, and a new
    # SSLContext never equals the previous one (a needless reconnect).
    if verify not in _SSL_CONTEXTS:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _SSL_CONTEXTS[verify] = ctx
    return _SSL_CONTEXTS[verify]


def client_settings(row):
    """AmiClient keyword arguments from a server row."""
    ctx = _ssl_context(bool(row["tls_verify"])) if row["tls"] else None
    return {
        "host": row["host"],
        "port": row["port"],
        "username": row["username"],
        "secret": row["secret"] or "",
        "md5_login": row["md5_login"],
        "ssl": ctx,
        "connect_timeout": row["connect_timeout"],
        "action_timeout": row["action_timeout"],
        "ping_interval": row["ping_interval"],
        "ping_timeout": row["ping_timeout"],
    }
