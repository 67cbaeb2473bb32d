from odoo import fields, models

# Headers that ask a phone to answer an originated call by itself.
AUTO_ANSWER_HEADERS = {
    "call_info": ("Call-Info", "<sip:127.0.0.1>;answer-after=0"),
    "alert_info": ("Alert-Info", "<http://127.0.0.1>;info=alert-autoanswer;delay=0"),
    "answer_mode": ("Answer-Mode", "Auto"),
    "p_auto_answer": ("P-Auto-Answer", "normal"),
}


class AsteriskUserChannel(models.Model):
    _inherit = "asterisk_common.user_channel"

    auto_answer_header = fields.Selection(
        [
            ("call_info", "Call-Info: answer-after=0 (Polycom, Yealink, Snom...)"),
            ("alert_info", "Alert-Info: info=alert-autoanswer (Grandstream, Yealink...)"),
            ("answer_mode", "Answer-Mode: Auto (RFC 5373)"),
            ("p_auto_answer", "P-Auto-Answer: normal"),
        ],
        string="Auto-Answer Header",
        default="call_info",
        help="The SIP header that makes this phone answer click-to-dial calls by itself.",
    )

    def _auto_answer(self):
        """``(name, value)`` of the header this device wants, or None."""
        self.ensure_one()
        if not self.auto_answer or not self.auto_answer_header:
            return None
        return AUTO_ANSWER_HEADERS[self.auto_answer_header]

    def _originate_variables(self):
        """Channel variables of the Originate that add the auto-answer header
        to the INVITE sent to this device (chan_sip: SIPADDHEADER; PJSIP:
        PJSIP_HEADER, written on the channel before it is called)."""
        header = self._auto_answer()
        if not header:
            return []
        name, value = header
        if self.name.upper().startswith("PJSIP/"):
            return [f"PJSIP_HEADER(add,{name})={value}"]
        return [f"SIPADDHEADER01={name}: {value}"]

    def _shared_auto_answer_header(self):
        """``(name, value)`` of the header all these devices want, rung
        together through their user's extension, or None when one of them
        wants none or another one."""
        wanted = {c._auto_answer() for c in self}
        return wanted.pop() if len(wanted) == 1 else None

    def _shared_auto_answer(self):
        """Without Odoo's dialplan: the variable that adds the shared header to
        the INVITEs of these devices rung by their user's extension, for
        chan_sip devices only (PJSIP_HEADER is a function of the PJSIP channel
        itself and cannot be inherited). Prefixed ``_``: inherited one level,
        by the phones the extension rings."""
        if not self._shared_auto_answer_header():
            return []
        if any(not c.name.upper().startswith("SIP/") for c in self):
            return []
        return ["_" + self[0]._originate_variables()[0]]
