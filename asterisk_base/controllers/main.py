"""The feed of active bans, for a firewall in front of the PBX (nftables,
ipset, fail2ban...). It is read by a script, without an Odoo session: a
per-server token, compared in constant time, is the only key, and the feed
holds nothing but the banned addresses and when they expire."""

import hashlib
import hmac
import json

from odoo import http
from odoo.http import request

from ..tools import network_of

# Compared against when the server is unknown or has no token, so that a
# refusal takes the same time whatever the reason.
_DUMMY = "x" * 43


class BanFeed(http.Controller):
    @http.route(
        ["/asterisk/bans/<int:server_id>.txt", "/asterisk/bans/<int:server_id>.json"],
        type="http",
        auth="none",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def ban_feed(self, server_id, family=None, **kwargs):
        token = _bearer(request.httprequest.headers.get("Authorization", ""))
        server = request.env["asterisk_common.server"].sudo().browse(server_id).exists()
        expected = (server.ban_feed_token if server else None) or None
        valid = hmac.compare_digest((token or "").encode(), (expected or _DUMMY).encode())
        if not (valid and expected and token and server.active):
            return request.make_response(
                "Forbidden\n", [("Content-Type", "text/plain; charset=utf-8")], status=403
            )
        bans = request.env["asterisk_base.ban"].sudo()._active_bans(server)
        if family in ("4", "6", "ipv4", "ipv6"):
            version = int(family[-1])
            bans = [ban for ban in bans if network_of(ban["address"]).version == version]
        if request.httprequest.path.endswith(".json"):
            body = json.dumps(
                {
                    "bans": [
                        {
                            "address": ban["address"],
                            "permanent": ban["permanent"],
                            "expires_at": ban["expires_at"].isoformat() + "Z"
                            if ban["expires_at"]
                            else None,
                        }
                        for ban in bans
                    ]
                },
                indent=1,
            )
            content_type = "application/json"
        else:
            body = "".join(f"{ban['address']}\n" for ban in bans)
            content_type = "text/plain; charset=utf-8"
        etag = '"%s"' % hashlib.sha256(body.encode()).hexdigest()[:32]
        headers = [("Cache-Control", "no-store"), ("ETag", etag)]
        if etag in request.httprequest.headers.get("If-None-Match", ""):
            return request.make_response("", headers, status=304)
        return request.make_response(body, [("Content-Type", content_type), *headers])


def _bearer(header):
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None
