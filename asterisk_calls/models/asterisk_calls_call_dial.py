import time
import uuid

import pytz

from odoo import _, api, models
from odoo.exceptions import UserError

from ..tools import originate
from ..tools.dial import callerid_name
from ..tools.numbers import to_e164
from ..tools.tracker import Record


class AsteriskCallDial(models.Model):
    """Click-to-dial: an Originate that rings the user's own phone, then dials
    the number in the user's context."""

    _inherit = "asterisk_calls.call"

    @api.model
    def pbx_dial(self, number, res_model=False, res_id=False, server_id=False):
        """Called by a PBX user from a phone field, a call or a contact.

        The call record exists at once (its Linkedid is the ``ChannelId`` given
        to the Originate), so the user sees it ringing before Asterisk answers;
        the events then fill it in. Failures reach the user as notifications.

        :returns: ``{"call_id", "dial", "device", "name"}`` for the client's
            "your phone rings" notice.
        """
        if not self.env.user.has_group("asterisk_common.group_asterisk_user"):
            raise UserError(_("Click-to-dial is for PBX users."))
        domain = [("user_id", "=", self.env.uid)]
        if server_id:
            domain.append(("server_id", "=", server_id))
        pbx_user = self.env["asterisk_common.user"].sudo().search(domain, limit=1)
        if not pbx_user:
            raise UserError(
                _("You have no extension on a PBX: ask a PBX administrator to give you one.")
            )
        server = pbx_user.server_id
        if server.state != "connected":
            raise UserError(
                _(
                    "The PBX %(server)s is not connected (%(error)s): the call cannot be placed.",
                    server=server.name,
                    error=server.last_error or server.state,
                )
            )
        devices = pbx_user.channel_ids.filtered("originate")
        if not devices:
            raise UserError(
                _("None of your devices is marked to ring for click-to-dial (PBX Users).")
            )
        region = server._region()
        dial = server._dial_string(number, region)
        if not dial:
            raise UserError(_("There is no number to dial in %r.", number))
        partner = self._dial_partner(number, res_model, res_id, region)
        colleague = (
            self.env["asterisk_common.user"]
            .sudo()
            .search([("server_id", "=", server.id), ("extension", "=", dial)], limit=1)
        )
        name = partner.display_name if partner else colleague.user_id.name or number
        label = callerid_name(
            (server.originate_callerid or "{name}")
            .replace("{name}", name)
            .replace("{number}", dial)
        )
        channel_id = f"odoo-{uuid.uuid4().hex[:20]}"
        action = {
            "Action": "Originate",
            "Context": pbx_user.originate_context,
            "Exten": dial,
            "Priority": 1,
            "CallerID": f'"{label}" <{dial}>',
            "Timeout": max(5, server.originate_timeout or 30) * 1000,
            "Async": "true",
            "ChannelId": channel_id,
        }
        prelude = None
        if len(devices) == 1:
            action["Channel"] = devices.name
            variables = devices._originate_variables()
        elif server.originate_dialplan:
            # Odoo's own context rings exactly these devices, each with its
            # header; it is added again first, in case the dialplan was
            # reloaded since the worker connected (that empties it).
            seconds = max(5, server.originate_timeout or 30)
            action["Channel"] = originate.ring_channel()
            action["OtherChannelId"] = f"{channel_id}-2"
            # the devices' Dial times out first: its NOANSWER says why
            action["Timeout"] = (seconds + 5) * 1000
            variables = originate.ring_variables(
                [(device.name, device._auto_answer()) for device in devices], seconds
            )
            prelude = originate.dialplan_actions()
        else:
            # The user's extension rings all their devices (the dialplan's job).
            action["Channel"] = f"Local/{pbx_user.extension}@{pbx_user.originate_context}"
            action["OtherChannelId"] = f"{channel_id}-2"
            variables = devices._shared_auto_answer()
            if variables:
                # The header, inherited one level, reaches the phones the
                # extension rings; the number must not get it (its phone would
                # answer by itself): a Local channel dials it, and keeps the
                # variable to itself (tests/captures originate_local_auto_answer).
                for key in ("Context", "Exten", "Priority"):
                    del action[key]
                action["Application"] = "Dial"
                action["Data"] = f"Local/{dial}@{pbx_user.originate_context}/n"
        if variables:
            action["Variable"] = variables
        queued = server.sudo().ami_action(action, expire=10, prelude=prelude)
        # what the user is told rings: their devices, not a Local channel
        ring = ", ".join(devices.mapped("name"))
        external = to_e164(number, region) or dial
        now = time.time()
        call = Record(
            {
                "linkedid": channel_id,
                "server_id": server.id,
                "direction": "outbound",
                "status": "ringing",
                "caller_user_id": self.env.uid,
                "caller_number": pbx_user.extension,
                "caller_name": self.env.user.name,
                "called_number": external,
                "called_name": partner.display_name if partner else False,
                "external_number": external,
                "partner_id": partner.id,
                "user_ids": (self.env.uid,),
                "originated": True,
                "action_uid": queued.action_uid,
                "action_id": queued.id,
                "started_at": now,
                "last_event_at": now,
                "ring_seconds": 0,
                "talk_seconds": 0,
                "transferred": False,
                "timeline": [
                    {
                        "t": now,
                        "k": "click_to_dial",
                        "key": "click_to_dial",
                        "user": self.env.user.name,
                        "device": ring,
                        "dial": dial,
                    }
                ],
                # "announce": the live lists learn of it when the PBX starts it;
                # "label": the CallerID it shows, which a trunk's channel repeats.
                "tracking": {
                    "dials": {},
                    "rang": [],
                    "talked": [],
                    "announce": True,
                    "label": label,
                },
            }
        )
        # The same fast path as the tracker: this runs on every click.
        self.sudo()._sql_create_calls([call], pytz.timezone(server.tz or "UTC"))
        return {"call_id": call.id, "dial": dial, "device": ring, "name": name}

    @api.model
    def pbx_dial_preview(self, number):
        """What clicking the PBX button next to ``number`` would dial (its
        tooltip), or False when the user cannot dial."""
        pbx_user = (
            self.env["asterisk_common.user"]
            .sudo()
            .search([("user_id", "=", self.env.uid)], limit=1)
        )
        if not pbx_user or not self.env.user.has_group("asterisk_common.group_asterisk_user"):
            return False
        return pbx_user.server_id._dial_string(number) or False

    def _dial_partner(self, number, res_model, res_id, region):
        """The contact being called: the record's own, else the number's."""
        partner = self.env["res.partner"]
        if res_model and res_id and res_model in self.env:
            record = self.env[res_model].browse(res_id).exists()
            if record:
                record.check_access("read")
                if res_model == "res.partner":
                    return record
                if "partner_id" in record._fields and record.partner_id:
                    return record.partner_id
        e164 = to_e164(number, region)
        if e164:
            found = partner.sudo()._pbx_find({e164}).get(e164)
            if found:
                return partner.browse(found)
        return partner

    def action_call_back(self):
        """Button: dial the outside party (or the internal caller) again."""
        self.ensure_one()
        number = self.external_number or (
            self.caller_number if self.caller_user_id != self.env.user else self.called_number
        )
        if not number:
            raise UserError(_("This call has no number to call back."))
        result = self.pbx_dial(
            number, "res.partner" if self.partner_id else False, self.partner_id.id
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Calling %s", result["name"]),
                "message": _(
                    "Your phone (%(device)s) rings first; then %(dial)s is dialled.",
                    device=result["device"],
                    dial=result["dial"],
                ),
                "type": "info",
            },
        }
