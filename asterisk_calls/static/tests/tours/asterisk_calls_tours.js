import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { screenshot } from "@asterisk_common/../tests/tours/screenshot";
import { testPopupStep } from "@asterisk_calls/../tests/tours/test_popup_step";

const HOSTILE = '<img src=x onerror="window.__pbx_xss=1">';

function services() {
    return odoo.__WOWL_DEBUG__.root.env.services;
}

// An incoming-call popup whose caller name is hostile: it stays text; then the
// popup opens the caller's contact.
registry.category("web_tour.tours").add("asterisk_calls_popup", {
    steps: () => [
        testPopupStep(HOSTILE, "06 12 34 56 78", "asterisk_calls_tour"),
        {
            trigger: ".o_asterisk_call_popup .o_asterisk_caller_name",
            run() {
                const name = document.querySelector(".o_asterisk_call_popup .o_asterisk_caller_name");
                if (name.textContent.trim() !== HOSTILE) {
                    throw new Error(`caller name not shown as text: ${name.innerHTML}`);
                }
                if (document.querySelector(".o_asterisk_call_popup img") || window.__pbx_xss) {
                    throw new Error("the caller name became HTML");
                }
            },
        },
        { trigger: ".o_asterisk_call_popup .o_asterisk_caller_number:contains(+33612345678)" },
        { trigger: ".o_asterisk_call_popup .o_asterisk_open_partner:contains(Robert Popup)", run: "click" },
        { trigger: ".o_form_view .o_field_widget[name=name] input:value(Robert Popup)" },
        { trigger: ".o_asterisk_call_popup .o_asterisk_popup_close", run: "click" },
        { trigger: "body:not(:has(.o_asterisk_call_popup))" },
    ],
});

// Click-to-dial from a contact's phone field: the user's phone rings first.
registry.category("web_tour.tours").add("asterisk_calls_click_to_dial", {
    steps: () => [
        // the phone field's links show on hover or focus (Odoo's CSS)
        { trigger: ".o_form_view .o_field_widget[name=phone] input", run: "click" },
        { trigger: ".o_form_view .o_field_widget[name=phone] .o_pbx_dial", run: "hover" },
        { trigger: ".o_pbx_dial[title*='then 00612345678 is dialled']" },
        { trigger: ".o_form_view .o_field_widget[name=phone] .o_pbx_dial", run: "click" },
        { trigger: ".o_notification:contains(Calling Robert Dial)" },
        { trigger: ".o_notification:contains(rings first; then 00612345678 is dialled)" },
        {
            // one PBX button per phone field, next to Odoo's own "Call" link
            trigger: ".o_form_view .o_field_widget[name=phone]",
            run() {
                const buttons = this.anchor.querySelectorAll(".o_pbx_dial");
                if (buttons.length !== 1) {
                    throw new Error(`${buttons.length} PBX buttons on the phone field`);
                }
            },
        },
    ],
});

// A call's recording plays in the browser.
registry.category("web_tour.tours").add("asterisk_calls_recording", {
    steps: () => [
        {
            trigger: "audio.o_asterisk_recording",
            async run() {
                const audio = this.anchor;
                audio.muted = true; // headless: no sound card, no user gesture
                await audio.play();
                const start = Date.now();
                while (!(audio.currentTime > 0)) {
                    if (Date.now() - start > 5000) {
                        throw new Error(`the recording did not play (${audio.error?.message})`);
                    }
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
                audio.pause();
                document.body.classList.add("o_asterisk_recording_played");
            },
        },
        { trigger: "body.o_asterisk_recording_played" },
    ],
});

// The list of calls in progress follows the PBX without a reload: a call
// placed meanwhile appears when a message comes on the bus (here a ringing
// popup), and in the systray.
registry.category("web_tour.tours").add("asterisk_calls_live", {
    steps: () => [
        { trigger: ".o_list_view .o_view_nocontent" },
        {
            trigger: ".o_list_view",
            async run() {
                const { orm, bus_service } = services();
                await orm.call("asterisk_calls.call", "pbx_dial", ["06 12 34 56 78"]);
                const [pbxUser] = await orm.search("asterisk_common.user", [
                    ["user_id", "=", user.userId],
                ]);
                await orm.call("asterisk_common.user", "action_test_popup", [[pbxUser]]);
                await bus_service.addChannel("asterisk_calls_tour_live");
            },
        },
        { trigger: ".o_list_view .o_data_row .o_field_widget[name=status]:contains(Ringing)" },
        { trigger: ".o_asterisk_current_call .badge:contains(1)" },
    ],
});

// The graph of calls counts in whole numbers: with two calls the y axis shows
// 0, 1, 2 and no 0.5 or 1.5.
registry.category("web_tour.tours").add("asterisk_calls_graph", {
    steps: () => [
        {
            trigger: ".o_graph_renderer canvas",
            async run() {
                const start = Date.now();
                let chart;
                while (!(chart = window.Chart?.getChart(this.anchor))?.scales?.y) {
                    if (Date.now() - start > 5000) {
                        throw new Error("no chart drawn");
                    }
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
                const ticks = chart.scales.y.ticks.map((tick) => tick.value);
                if (ticks.length < 2 || !ticks.every(Number.isInteger)) {
                    throw new Error(`y axis ticks: ${ticks.join(", ")}`);
                }
                document.body.classList.add("o_pbx_graph_checked");
            },
        },
        { trigger: "body.o_pbx_graph_checked" },
    ],
});

// The popup on a phone-sized screen (TestCallsUiPhone: 375x667, touch): it fits
// the screen, a caller name longer than the screen wraps, the contact's last
// calls and activities show, and its buttons are not covered.
const LONG_NAME = "Établissements-Marchand-Fournitures-Industrielles-Sud-Ouest-Service-Achats";

function checkInside(inner, outer, what) {
    const a = inner.getBoundingClientRect();
    const b = outer.getBoundingClientRect ? outer.getBoundingClientRect() : outer;
    if (a.left < b.left - 0.5 || a.right > b.right + 0.5 || a.top < b.top - 0.5 || a.bottom > b.bottom + 0.5) {
        throw new Error(`${what} overflows: ${JSON.stringify(a)} not inside ${JSON.stringify(b)}`);
    }
}

function checkReachable(element, what) {
    const r = element.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !element.contains(hit)) {
        throw new Error(`${what} is covered by ${hit && hit.outerHTML.slice(0, 120)}`);
    }
}

registry.category("web_tour.tours").add("asterisk_calls_popup_phone", {
    steps: () => [
        testPopupStep(LONG_NAME, "06 98 76 54 32", "asterisk_calls_phone_tour"),
        { trigger: ".o_asterisk_call_popup .o_asterisk_open_partner:contains(Robert Phone-Screen)" },
        {
            trigger: ".o_asterisk_call_popup:contains(Call back about the delivery)",
            run() {
                const screen = { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight };
                if (window.innerWidth > 400) {
                    throw new Error(`not a phone-sized screen: ${window.innerWidth}px wide`);
                }
                const popup = this.anchor;
                checkInside(popup, screen, "the popup");
                if (popup.scrollWidth > popup.clientWidth) {
                    throw new Error(`the popup scrolls sideways (${popup.scrollWidth} > ${popup.clientWidth})`);
                }
                const name = popup.querySelector(".o_asterisk_caller_name");
                if (name.textContent.trim() !== LONG_NAME) {
                    throw new Error(`caller name shown as ${name.textContent}`);
                }
                checkInside(name, popup, "the caller's name");
                const lastCalls = popup.querySelectorAll(".o_asterisk_last_call");
                if (lastCalls.length !== 3) {
                    throw new Error(`${lastCalls.length} last calls shown, not 3`);
                }
                if (popup.querySelectorAll(".o_asterisk_activity").length !== 2) {
                    throw new Error("the contact's activities are not shown");
                }
                checkReachable(popup.querySelector(".o_asterisk_open_partner"), "the contact link");
                checkReachable(popup.querySelector(".o_asterisk_popup_close"), "the close button");
            },
        },
        screenshot("popup"),
        { trigger: ".o_asterisk_call_popup .o_asterisk_open_partner", run: "click" },
        { trigger: ".o_form_view .o_field_widget[name=name] input:value(Robert Phone-Screen)" },
        { trigger: ".o_asterisk_call_popup .o_asterisk_popup_close", run: "click" },
        { trigger: "body:not(:has(.o_asterisk_call_popup))" },
    ],
});
