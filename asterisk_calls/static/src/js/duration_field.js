import { Component } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/** Seconds as people read a call's length: 0:07, 12:30, 1:02:03. */
export function formatDuration(value) {
    if (value === false || value === null || value === undefined) {
        return "";
    }
    const total = Math.round(Math.abs(value));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = String(total % 60).padStart(2, "0");
    const sign = value < 0 ? "-" : "";
    if (hours) {
        return `${sign}${hours}:${String(minutes).padStart(2, "0")}:${seconds}`;
    }
    return `${sign}${minutes}:${seconds}`;
}

export class PbxDurationField extends Component {
    static template = "asterisk_calls.DurationField";
    static props = { ...standardFieldProps };

    get formattedValue() {
        return formatDuration(this.props.record.data[this.props.name]);
    }
}

registry.category("formatters").add("pbx_duration", formatDuration);
registry.category("fields").add("pbx_duration", {
    component: PbxDurationField,
    displayName: "Duration (m:ss)",
    supportedTypes: ["integer", "float"],
});
