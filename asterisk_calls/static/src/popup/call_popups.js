import { Component, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";

/** The incoming-call cards, bottom right, above the rest of the web client. */
export class CallPopups extends Component {
    static template = "asterisk_calls.CallPopups";
    static props = {};

    setup() {
        this.popups = useService("asterisk_calls_popup");
        this.state = useState(this.popups.state);
    }

    when(value) {
        return value ? formatDateTime(deserializeDateTime(value)) : "";
    }
}

registry.category("main_components").add("asterisk_calls.CallPopups", { Component: CallPopups });
