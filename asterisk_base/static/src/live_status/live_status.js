import { Component, onMounted, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";

// Wait this long after a bus message before fetching: a burst of changes
// (a call starting rings several devices) gives one fetch.
const DEBOUNCE_MS = 400;
const LEVEL_CLASSES = {
    success: "text-bg-success",
    warning: "text-bg-warning",
    danger: "text-bg-danger",
    info: "text-bg-info",
    muted: "text-bg-secondary",
};

/**
 * A PBX's live status: channels, SIP peers, PJSIP endpoints and contacts, device states,
 * queues, version and uptime, as the PBX answers them over AMI. Fetched again
 * when the server says on the bus that something changed; never polled (a
 * heartbeat only says that the page is still open).
 * Everything from the PBX is shown as text (t-esc): caller names come from
 * callers.
 */
export class AsteriskLiveStatus extends Component {
    static template = "asterisk_base.LiveStatus";
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.busService = useService("bus_service");
        this.state = useState({
            servers: [],
            serverId: this.props.action.params?.server_id || false,
            status: null,
            loading: false,
        });
        this.timer = null;
        this.again = false; // a message came while fetching
        this.onBusMessage = this.onBusMessage.bind(this);
        this.busService.subscribe("asterisk_base.live_status", this.onBusMessage);
        this.busService.start();
        onWillStart(async () => {
            this.state.servers = await this.orm.searchRead(
                "asterisk_common.server",
                [],
                ["name"],
                { order: "name" }
            );
            if (!this.state.serverId && this.state.servers.length) {
                this.state.serverId = this.state.servers[0].id;
            }
        });
        // Not awaited before the first render: a slow PBX must not hold the page.
        onMounted(() => this.fetch());
        onWillUnmount(() => {
            clearTimeout(this.timer);
            clearInterval(this.heartbeat);
            this.busService.unsubscribe("asterisk_base.live_status", this.onBusMessage);
        });
    }

    get status() {
        return this.state.status;
    }

    get fetchedAt() {
        const at = this.status?.fetched_at;
        return at ? formatDateTime(deserializeDateTime(at), { showSeconds: true }) : "";
    }

    onBusMessage(payload) {
        if (payload.server_id !== this.state.serverId) {
            return;
        }
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.fetch(), DEBOUNCE_MS);
    }

    /**
     * PBX events are told on the bus only to open pages: while open, the page
     * says so at each fetch and as often as the server asks (watch_seconds).
     */
    keepWatching(seconds) {
        if (!this.heartbeat && seconds) {
            this.heartbeat = setInterval(() => this.watch(), seconds * 1000);
        }
    }

    async watch() {
        if (this.state.serverId) {
            await this.orm.silent.call("asterisk_common.server", "live_status_watch", [
                [this.state.serverId],
            ]);
        }
    }

    async fetch() {
        if (!this.state.serverId) {
            return;
        }
        if (this.state.loading) {
            this.again = true;
            return;
        }
        this.state.loading = true;
        const serverId = this.state.serverId;
        try {
            const status = await this.orm.call("asterisk_common.server", "live_status", [
                [serverId],
            ]);
            if (serverId === this.state.serverId) {
                this.state.status = status;
            }
            this.keepWatching(status.watch_seconds);
        } finally {
            this.state.loading = false;
        }
        if (this.again) {
            this.again = false;
            await this.fetch();
        }
    }

    async onServerChange(ev) {
        this.state.serverId = parseInt(ev.target.value);
        this.state.status = null;
        await this.fetch();
    }

    levelClass(level) {
        return LEVEL_CLASSES[level] || LEVEL_CLASSES.muted;
    }

    sectionProblem(name) {
        const section = this.status?.sections?.[name];
        return section && section.state !== "ok" ? section : null;
    }

    duration(seconds) {
        if (seconds === false || seconds === null || seconds === undefined) {
            return "";
        }
        const days = Math.floor(seconds / 86400);
        const rest = seconds % 86400;
        const hms = [Math.floor(rest / 3600), Math.floor((rest % 3600) / 60), rest % 60]
            .map((n) => String(n).padStart(2, "0"))
            .join(":");
        return days ? _t("%(days)s d %(hms)s", { days, hms }) : hms;
    }

    party(num, name) {
        if (name && num && name !== num && name !== "<unknown>") {
            return `${name} <${num}>`;
        }
        return num && num !== "<unknown>" ? num : name || "";
    }
}

registry.category("actions").add("asterisk_base.live_status", AsteriskLiveStatus);
