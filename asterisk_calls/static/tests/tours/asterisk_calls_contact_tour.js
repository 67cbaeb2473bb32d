import { registry } from "@web/core/registry";
import { screenshot } from "@asterisk_common/../tests/tours/screenshot";
import { testPopupStep } from "@asterisk_calls/../tests/tours/test_popup_step";

// A known contact calls: the popup names them, opens their form, whose Calls
// button lists their calls; then the calls reports.
registry.category("web_tour.tours").add("asterisk_calls_contact_calls", {
    steps: () => [
        testPopupStep("Robert Calls", "06 71 82 93 04", "asterisk_calls_contact_tour"),
        { trigger: ".o_asterisk_call_popup .o_asterisk_caller_number:contains(+33671829304)" },
        { trigger: ".o_asterisk_call_popup .o_asterisk_open_partner:contains(Robert Calls)" },
        screenshot("popup"),
        { trigger: ".o_asterisk_call_popup .o_asterisk_open_partner", run: "click" },
        { trigger: ".o_form_view .o_field_widget[name=name] input:value(Robert Calls)" },
        { trigger: ".o_asterisk_call_popup .o_asterisk_popup_close", run: "click" },
        { trigger: "body:not(:has(.o_asterisk_call_popup))" },
        {
            trigger: ".o_form_view button[name=action_view_pbx_calls]:contains(3)",
            run: "click",
        },
        { trigger: ".o_breadcrumb:contains(Robert Calls) .active:contains(Calls)" },
        { trigger: ".o_list_view .o_data_row:contains(Answered)" },
        { trigger: ".o_list_view .o_data_row:contains(No Answer)" },
        { trigger: ".o_list_view .o_data_row:contains(Outbound)" },
        {
            trigger: ".o_list_view",
            run() {
                const rows = this.anchor.querySelectorAll(".o_data_row");
                if (rows.length !== 3) {
                    throw new Error(`${rows.length} calls listed for the contact, not 3`);
                }
            },
        },
        screenshot("calls"),
        { trigger: ".o_navbar_apps_menu button", run: "click" },
        { trigger: ".o_app[data-menu-xmlid='asterisk_common.menu_root']", run: "click" },
        {
            trigger: ".o_menu_sections button[data-menu-xmlid='asterisk_calls.menu_reporting']",
            run: "click",
        },
        {
            trigger: ".o-dropdown--menu [data-menu-xmlid='asterisk_calls.menu_calls_analysis']",
            run: "click",
        },
        { trigger: ".o_breadcrumb .active:contains(Calls Analysis)" },
        { trigger: ".o_graph_view .o_graph_renderer canvas" },
    ],
});
