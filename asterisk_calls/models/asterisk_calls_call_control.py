from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.asterisk_common.models.asterisk_common_user import CHANNEL_RE

from ..tools.dial import callerid_name

SPY_OPTIONS = {"listen": "q", "whisper": "qw", "barge": "qB"}


class AsteriskCallControl(models.Model):
    """What a user does with a call in progress: hang up, transfer, park;
    listen, whisper or barge in for supervisors. Every action is built here
    from the call's own channels and checked numbers, then queued with
    ``ami_action``: nothing a user types reaches Asterisk as a header."""

    _inherit = "asterisk_calls.call"

    can_spy = fields.Boolean(compute="_compute_can_spy")
    can_park = fields.Boolean(compute="_compute_can_park")

    @api.depends_context("uid")
    def _compute_can_spy(self):
        allowed = self.env.user.has_group("asterisk_calls.group_asterisk_supervisor")
        for call in self:
            call.can_spy = allowed and call.status in ("ringing", "in_progress")

    @api.depends("status", "server_id.parking_lots")
    def _compute_can_park(self):
        for call in self:
            call.can_park = call.status == "in_progress" and bool(call.server_id.parking_lots)

    # -- which channel ----------------------------------------------------------------

    def _live_channels(self):
        self.ensure_one()
        channels = self.sudo().channel_ids.filtered(lambda c: not c.ended_at)
        for channel in channels:
            if not CHANNEL_RE.match(channel.device or "") or any(c in channel.name for c in "\r\n"):
                raise UserError(_("Channel %r cannot be acted upon.", channel.name))
        return channels

    def _my_channel(self):
        """The live channel of one of the current user's devices in this call."""
        mine = self._live_channels().filtered(lambda c: c.user_id == self.env.user)
        if not mine:
            raise UserError(_("None of your phones is in this call."))
        return mine.filtered(lambda c: not c.is_local)[:1] or mine[:1]

    def _peer_channel(self, channel):
        """The party ``channel`` talks to: the other non-plumbing channel of its bridge."""
        live = self._live_channels()
        peers = live.filtered(lambda c: c.bridge and c.bridge == channel.bridge and c != channel)
        party = peers.filtered(lambda c: not c.is_local) or peers
        if not party:
            raise UserError(_("This call is not connected to anyone to act on."))
        return party[:1]

    def _check_live(self):
        self.ensure_one()
        if self.status not in ("ringing", "in_progress"):
            raise UserError(_("This call is over."))

    def _send(self, action, title, message):
        queued = self.server_id.sudo().ami_action(action, expire=10)
        self.sudo().message_post(
            body=_("%(title)s: %(message)s", title=title, message=message),
            message_type="notification",
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": message, "type": "info"},
            "action_id": queued.id,
        }

    # -- actions ----------------------------------------------------------------------

    def action_hangup(self):
        """A user hangs up their own phone; a PBX admin ends the whole call."""
        self._check_live()
        if self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            channels = self._live_channels().filtered(lambda c: not c.is_local)
            channels = channels or self._live_channels()
        else:
            channels = self._my_channel()
        result = None
        for channel in channels:
            result = self._send(
                {"Action": "Hangup", "Channel": channel.name, "Cause": 16},
                _("Hanging up"),
                channel.name,
            )
        return result

    def pbx_transfer(self, target_user_id=False, number=False, attended=False):
        """Transfer the other party to a colleague (their extension) or a number."""
        self._check_live()
        mine = self._my_channel()
        pbx_user = (
            self.env["asterisk_common.user"]
            .sudo()
            .search(
                [("user_id", "=", self.env.uid), ("server_id", "=", self.server_id.id)], limit=1
            )
        )
        if target_user_id:
            target = (
                self.env["asterisk_common.user"]
                .sudo()
                .search(
                    [("user_id", "=", target_user_id), ("server_id", "=", self.server_id.id)],
                    limit=1,
                )
            )
            if not target:
                raise UserError(_("This colleague has no extension on this PBX."))
            exten, label = target.extension, target.user_id.name
        else:
            exten = self.server_id._dial_string(number or "")
            label = number
        if not exten:
            raise UserError(_("Transfer to whom? Give a colleague or a number."))
        action = {
            "Action": "Atxfer" if attended else "BlindTransfer",
            "Channel": mine.name,
            "Context": pbx_user.originate_context,
            "Exten": exten,
        }
        how = _("Attended transfer") if attended else _("Transfer")
        return self._send(action, how, _("%(label)s (%(exten)s)", label=label, exten=exten))

    def action_park(self):
        """Park the other party; it comes back to the user's phone on timeout."""
        self._check_live()
        if not self.server_id.sudo().parking_lots:
            raise UserError(
                _(
                    "%s has no parking lot (res_parking): calls cannot be parked.",
                    self.server_id.name,
                )
            )
        mine = self._my_channel()
        peer = self._peer_channel(mine)
        return self._send(
            {"Action": "Park", "Channel": peer.name, "TimeoutChannel": mine.name},
            _("Parking"),
            peer.name,
        )

    def pbx_spy(self, mode="listen"):
        """Supervisors: ring their own phone into the call (ChanSpy), to listen,
        whisper to the user or barge in."""
        self._check_live()
        if not self.env.user.has_group("asterisk_calls.group_asterisk_supervisor"):
            raise AccessError(_("Only supervisors can listen to calls."))
        if mode not in SPY_OPTIONS:
            raise UserError(_("Unknown listening mode %s.", mode))
        pbx_user = (
            self.env["asterisk_common.user"]
            .sudo()
            .search(
                [("user_id", "=", self.env.uid), ("server_id", "=", self.server_id.id)], limit=1
            )
        )
        device = pbx_user.channel_ids.filtered("originate")[:1]
        if not device:
            raise UserError(_("You have no phone on this PBX to listen with."))
        live = self._live_channels()
        target = (
            live.filtered(lambda c: c.user_id and c.user_id == self.answered_by_id)
            or live.filtered("user_id")
            or live.filtered(lambda c: not c.is_local)
        )[:1]
        if not target:
            raise UserError(_("Nobody to listen to in this call."))
        label = callerid_name(_("%(mode)s %(who)s", mode=mode.capitalize(), who=self.display_name))
        action = {
            "Action": "Originate",
            "Channel": device.name,
            "Application": "ChanSpy",
            "Data": f"{target.name},{SPY_OPTIONS[mode]}",
            "CallerID": f'"{label}" <{pbx_user.extension}>',
            "Timeout": 30000,
            "Async": "true",
        }
        return self._send(action, _("Listening (%s)", mode), target.name)

    def action_spy_listen(self):
        return self.pbx_spy("listen")

    def action_spy_whisper(self):
        return self.pbx_spy("whisper")

    def action_spy_barge(self):
        return self.pbx_spy("barge")
