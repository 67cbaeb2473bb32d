import { registry } from "@web/core/registry";

const HOSTILE = '<img src=x onerror="window.__pbx_xss=1">';
const PAGE = ".o_asterisk_live_status";

function services() {
    return odoo.__WOWL_DEBUG__.root.env.services;
}

// From a server's form to its live status page.
export function openLiveStatus() {
    return [
        {
            // The button may be in the button box's "More" dropdown.
            trigger: ".o_form_view .o-form-buttonbox",
            run() {
                if (!this.anchor.querySelector("button[name=action_open_live_status]")) {
                    this.anchor.querySelector(".o_button_more").click();
                }
            },
        },
        { trigger: "button[name=action_open_live_status]", run: "click" },
    ];
}

// The live status page, opened from the server's form: the PBX's lists as
// text, empty states, then a change the server announces on the bus.
registry.category("web_tour.tours").add("asterisk_base_live_status", {
    steps: () => [
        ...openLiveStatus(),
        { trigger: `${PAGE} .o_asterisk_live_status_version:contains(20.9.3)` },
        { trigger: `${PAGE} .o_asterisk_live_status_uptime:not(:empty)` },
        {
            trigger: `${PAGE} .o_asterisk_live_status_channel .o_asterisk_live_status_caller`,
            run() {
                // Caller names come from callers: text, never HTML.
                const cells = document.querySelectorAll(".o_asterisk_live_status_caller");
                if (![...cells].some((cell) => cell.textContent.includes(HOSTILE))) {
                    throw new Error("the hostile caller name is not shown as text");
                }
                if (document.querySelector(`${PAGE} img`) || window.__pbx_xss) {
                    throw new Error("a caller name became HTML");
                }
            },
        },
        { trigger: `${PAGE} .o_asterisk_live_status_channel .badge.text-bg-success:contains(Up)` },
        {
            trigger: `${PAGE} .o_asterisk_live_status_endpoint[data-name=erin]:contains(not registered) .badge.text-bg-danger:contains(Unavailable)`,
        },
        {
            trigger: `${PAGE} .o_asterisk_live_status_endpoint[data-name=dave] .o_asterisk_live_status_contact:contains(sip:dave@127.0.0.1:5072)`,
        },
        {
            trigger: `${PAGE} .o_asterisk_live_status_queue[data-name=support] .o_asterisk_live_status_queue_caller:contains(alice)`,
        },
        {
            trigger: `${PAGE} .o_asterisk_live_status_member:contains(Agent Two) .badge:contains(Paused: lunch)`,
        },
        {
            trigger: `${PAGE} .o_asterisk_live_status_device[data-device='SIP/carol'] .badge.text-bg-danger:contains(Unavailable)`,
        },
        {
            trigger: `${PAGE} .o_asterisk_live_status_peer[data-name=bob] .badge.text-bg-danger:contains(Not registered)`,
            async run() {
                // bob registered meanwhile: the message is in the bus; a new
                // subscription fetches it (a test server gets no NOTIFY).
                await services().bus_service.addChannel("asterisk_base_live_status_tour");
            },
        },
        {
            trigger: `${PAGE} .o_asterisk_live_status_peer[data-name=bob] .badge.text-bg-success:contains(5 ms)`,
        },
        { trigger: `${PAGE} .o_asterisk_live_status_peer[data-name=bob]:contains(127.0.0.1:5070)` },
        {
            // the page's heartbeat (watch_seconds: 1 in the test): counted by the test
            trigger: PAGE,
            async run() {
                await new Promise((resolve) => setTimeout(resolve, 1500));
            },
        },
    ],
});
