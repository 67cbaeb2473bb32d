import { registry } from "@web/core/registry";

const INPUT = ".o_asterisk_console_input";

// The web console: completion from the PBX, a command and its output (as
// text), a dangerous command cancelled at its confirmation, the history.
registry.category("web_tour.tours").add("asterisk_base_console", {
    steps: () => [
        // No worker in this test: the page says the PBX is not connected.
        { trigger: ".o_asterisk_console .text-warning:contains(not connected)" },
        { trigger: INPUT, run: "edit core sh" },
        { trigger: INPUT, run: "press Tab" },
        { trigger: `${INPUT}:value(core show )` },
        { trigger: INPUT, run: "edit core show version" },
        { trigger: INPUT, run: "press Enter" },
        {
            trigger: ".o_asterisk_console_output:contains(2nd)",
            run() {
                const output = document.querySelector(".o_asterisk_console_output");
                if (document.querySelector(".o_injected") || !output.textContent.includes("<b class")) {
                    throw new Error(`PBX output rendered as HTML: ${output.innerHTML}`);
                }
            },
        },
        { trigger: `${INPUT}:value()` },
        { trigger: INPUT, run: "edit core stop now" },
        { trigger: INPUT, run: "press Enter" },
        { trigger: ".modal:contains(Run a dangerous command?):contains(core stop)" },
        { trigger: ".modal .modal-footer button:contains(Cancel)", run: "click" },
        { trigger: "body:not(:has(.modal))" },
        {
            trigger: ".o_asterisk_console_screen",
            run() {
                const entries = document.querySelectorAll(".o_asterisk_console_entry");
                if (entries.length !== 1) {
                    throw new Error(`the cancelled command ran: ${entries.length} entries`);
                }
            },
        },
        { trigger: INPUT, run: "edit x" },
        { trigger: INPUT, run: "press ArrowUp" },
        { trigger: `${INPUT}:value(core show version)` },
    ],
});
