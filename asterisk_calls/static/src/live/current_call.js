import { Component, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";

/** Systray: the PBX user's calls in progress, kept current by the bus. */
export class CurrentCall extends Component {
    static template = "asterisk_calls.CurrentCall";
    static components = { Dropdown, DropdownItem };
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ calls: [] });
        const bus = useService("bus_service");
        const refresh = () => this.load();
        onWillStart(async () => {
            this.isPbxUser = await user.hasGroup("asterisk_common.group_asterisk_user");
            if (this.isPbxUser) {
                await this.load();
            }
        });
        const messages = ["asterisk_calls.live", "asterisk_calls.ring", "asterisk_calls.ring_end"];
        for (const message of messages) {
            bus.subscribe(message, refresh);
        }
        this.env.bus.addEventListener("ASTERISK_CALLS:LIVE", refresh);
        onWillUnmount(() => {
            for (const message of messages) {
                bus.unsubscribe(message, refresh);
            }
            this.env.bus.removeEventListener("ASTERISK_CALLS:LIVE", refresh);
        });
    }

    async load() {
        if (this.isPbxUser) {
            this.state.calls = await this.orm.call("asterisk_calls.call", "pbx_my_live_calls", []);
        }
    }

    open(call) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "asterisk_calls.call",
            res_id: call.id,
            views: [[false, "form"]],
        });
    }
}

registry.category("systray").add("asterisk_calls.CurrentCall", { Component: CurrentCall }, { sequence: 30 });
