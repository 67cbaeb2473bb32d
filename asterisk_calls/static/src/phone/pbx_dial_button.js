import { Component, onWillStart } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";

/** "Call via PBX": rings the user's own phone, then dials the number. */
export class PbxDialButton extends Component {
    static template = "asterisk_calls.PbxDialButton";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.title = _t("Call via the PBX: your phone rings first");
        onWillStart(async () => {
            this.isPbxUser = await user.hasGroup("asterisk_common.group_asterisk_user");
        });
    }

    get number() {
        return this.props.record.data[this.props.name] || "";
    }

    /** The tooltip tells what will be dialled (the server's dial rules). */
    async onMouseEnter(ev) {
        const number = this.number;
        if (this.previewed === number) {
            return;
        }
        this.previewed = number;
        const target = ev.currentTarget;
        const dial = await this.orm.call("asterisk_calls.call", "pbx_dial_preview", [number]);
        if (dial) {
            target.title = _t("Call via the PBX: your phone rings first, then %s is dialled", dial);
        }
    }

    async onClick() {
        const record = this.props.record;
        try {
            const result = await this.orm.call("asterisk_calls.call", "pbx_dial", [this.number], {
                res_model: record.resModel,
                res_id: record.resId || false,
            });
            this.notification.add(
                _t("Your phone (%(device)s) rings first; then %(dial)s is dialled.", {
                    device: result.device,
                    dial: result.dial,
                }),
                { title: _t("Calling %s", result.name), type: "info" }
            );
            // The systray shows the call at once (the bus tells the others).
            this.env.bus.trigger("ASTERISK_CALLS:LIVE");
        } catch (error) {
            const message = error.data?.message || error.message;
            this.notification.add(message, { title: _t("The call was not placed"), type: "danger" });
        }
    }
}
