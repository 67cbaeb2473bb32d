import { registry } from "@web/core/registry";
import { screenshot } from "@asterisk_common/../tests/tours/screenshot";
import { openLiveStatus } from "@asterisk_base/../tests/tours/asterisk_base_live_status_tour";

// An admin's first minutes with the PBX app, from its menus.

function openMenu(sectionXmlid, itemXmlid) {
    return [
        { trigger: ".o_navbar_apps_menu button", run: "click" },
        { trigger: ".o_app[data-menu-xmlid='asterisk_common.menu_root']", run: "click" },
        { trigger: ".o_main_navbar .o_menu_brand:contains(PBX)" },
        {
            // a section that does not fit in the navbar is under "More"
            trigger: ".o_main_navbar .o_menu_sections",
            run() {
                if (!this.anchor.querySelector(`button[data-menu-xmlid='${sectionXmlid}']`)) {
                    this.anchor.querySelector(".o_menu_sections_more button").click();
                }
            },
        },
        {
            trigger: `.o_menu_sections button[data-menu-xmlid='${sectionXmlid}'], .o-dropdown--menu [data-menu-xmlid='${itemXmlid}']`,
            run() {
                if (this.anchor.tagName === "BUTTON") {
                    this.anchor.click();
                }
            },
        },
        { trigger: `.o-dropdown--menu [data-menu-xmlid='${itemXmlid}']`, run: "click" },
    ];
}

const CHANGED = "[general]\ncontext=default\nallowguest=yes\n\n[alice]\ntype=friend\nhost=dynamic\n";

// A config file: edit it in the editor, save, see what will be uploaded, compare versions.
registry.category("web_tour.tours").add("asterisk_base_conf_edit", {
    steps: () => [
        ...openMenu("asterisk_base.menu_pbx_config", "asterisk_base.menu_conf"),
        { trigger: ".o_breadcrumb:contains(Config Files)" },
        {
            trigger: ".o_list_view .o_data_row:contains(sip.conf) .badge:contains(Up to Date)",
        },
        screenshot("list"),
        { trigger: ".o_list_view .o_data_row:contains(sip.conf) td[name=name]", run: "click" },
        { trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Up to Date)" },
        { trigger: ".o_form_view .o_field_widget[name=content] .ace_editor:contains(allowguest=no)" },
        {
            trigger: ".o_form_view .o_field_widget[name=content] .ace_editor",
            run() {
                // as typing: the editor's own change events mark the form dirty
                const editor = window.ace.edit(this.anchor);
                editor.focus();
                editor.setValue(CHANGED, 1);
            },
        },
        { trigger: ".o_form_view .ace_editor:contains(host=dynamic)" },
        { trigger: ".o_form_status_indicator_buttons:not(.invisible)" },
        screenshot("editing"),
        { trigger: ".o_form_button_save", run: "click" },
        { trigger: "body:not(:has(.o_form_status_indicator_buttons:not(.invisible)))" },
        {
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Modified in Odoo)",
        },
        { trigger: ".o_form_view .o_statusbar_buttons button[name=action_upload]" },
        { trigger: ".o_notebook .nav-link:contains(Changes to Upload)", run: "click" },
        { trigger: ".o_asterisk_conf_diff .text-danger:contains(-allowguest=no)" },
        { trigger: ".o_asterisk_conf_diff .text-success:contains(+allowguest=yes)" },
        { trigger: ".o_asterisk_conf_diff .text-danger:contains(-host=static)" },
        { trigger: ".o_asterisk_conf_diff .text-success:contains(+host=dynamic)" },
        screenshot("changes"),
        { trigger: ".o_form_view .o_field_widget[name=version_count]:contains(2)" },
        { trigger: ".o_form_view button[name=action_compare]", run: "click" },
        { trigger: ".modal .modal-title:contains(Compare Versions)" },
        { trigger: ".modal .o_field_widget[name=old_version_id] input:value(Edited in Odoo)" },
        { trigger: ".modal .o_asterisk_conf_diff .text-danger:contains(-allowguest=no)" },
        { trigger: ".modal .o_asterisk_conf_diff .text-success:contains(+allowguest=yes)" },
        screenshot("compare"),
        { trigger: ".modal .modal-footer button:contains(Close)", run: "click" },
        { trigger: "body:not(:has(.modal))" },
    ],
});

// A banned address let in again: Unban from the list of active bans.
registry.category("web_tour.tours").add("asterisk_base_unban", {
    steps: () => [
        ...openMenu("asterisk_base.menu_protection", "asterisk_base.menu_ban"),
        { trigger: ".o_breadcrumb:contains(Bans)" },
        { trigger: ".o_searchview .o_facet_value:contains(Active)" },
        { trigger: ".o_list_view .o_data_row:contains(198.51.100.7)" },
        {
            trigger: ".o_list_view .o_data_row:contains(203.0.113.5) .badge:contains(Active)",
        },
        {
            trigger: ".o_list_view .o_data_row:contains(203.0.113.5) .o_list_record_selector input",
            run: "click",
        },
        { trigger: ".o_list_selection_box:contains(1)" },
        screenshot("selected"),
        { trigger: "button[name=action_lift]:contains(Unban)", run: "click" },
        { trigger: ".o_list_view:not(:has(.o_data_row:contains(203.0.113.5)))" },
        { trigger: ".o_list_view .o_data_row:contains(198.51.100.7)" },
        { trigger: ".o_list_view:not(:has(.o_list_record_selector input:checked))" },
    ],
});

function port() {
    return document.cookie.match(/(?:^|;\s*)asterisk_tour_ami_port=(\d+)/)[1];
}

// A new PBX: the onboarding wizard tests the AMI connection, reports what it
// found, and creates the server.
function onboardingSteps() {
    return [
        ...openMenu("asterisk_common.menu_configuration", "asterisk_base.menu_server_wizard"),
        { trigger: ".modal .modal-title:contains(Server Onboarding)" },
        { trigger: ".modal .o_field_widget[name=name] input", run: "edit Main PBX" },
        { trigger: ".modal .o_field_widget[name=host] input", run: "edit 127.0.0.1" },
        {
            trigger: ".modal .o_field_widget[name=port] input",
            async run(helpers) {
                await helpers.edit(port());
            },
        },
        { trigger: ".modal .o_field_widget[name=username] input", run: "edit odoo" },
        { trigger: ".modal .o_field_widget[name=secret] input", run: "edit odoo-secret" },
        { trigger: ".modal .o_field_widget[name=secret] input[type=password]" },
        screenshot("filled"),
        { trigger: ".modal footer button[name=action_test]", run: "click" },
        {
            trigger: ".modal .alert-success:contains(Odoo can log in and the AMI user has every permission)",
        },
        { trigger: ".modal .o_field_widget[name=asterisk_version]:contains(20.10.0)" },
        { trigger: ".modal .o_field_widget[name=driver]:contains(PJSIP)" },
        {
            trigger: ".modal .o_field_widget[name=check_ids] .o_data_row:contains(Connection) .badge",
        },
        { trigger: ".modal pre:contains([odoo])" },
        { trigger: ".modal .o_field_widget[name=name] input:value(Main PBX)" },
        screenshot("report"),
        {
            trigger: ".modal .o_field_widget[name=check_ids]",
            run() {
                this.anchor.scrollIntoView({ block: "center" });
            },
        },
        screenshot("checks"),
        { trigger: ".modal footer button[name=action_save]:contains(Create Server)", run: "click" },
        { trigger: "body:not(:has(.modal))" },
        { trigger: ".o_breadcrumb .active:contains(Main PBX)" },
        { trigger: ".o_form_view .o_field_widget[name=host] input:value(127.0.0.1)" },
        {
            trigger: ".o_form_view .o_field_widget[name=port] input",
            run() {
                if (this.anchor.value.replace(/\D/g, "") !== port()) {
                    throw new Error(`the server's port is ${this.anchor.value}, not ${port()}`);
                }
            },
        },
    ];
}

registry.category("web_tour.tours").add("asterisk_base_onboarding", { steps: onboardingSteps });

const LIVE = ".o_asterisk_live_status";

// The same with Odoo's AMI worker running (tests/test_tour_live.py): the new
// server connects within seconds and its live status comes from the PBX.
registry.category("web_tour.tours").add("asterisk_base_onboarding_live", {
    steps: () => [
        ...onboardingSteps(),
        {
            trigger: ".o_form_view .o_statusbar_status",
            async run() {
                // The form shows the state read when it opened: as a person
                // would, look again once the worker has reported.
                const { action, orm } = odoo.__WOWL_DEBUG__.root.env.services;
                const [server] = await orm.searchRead(
                    "asterisk_common.server", [["name", "=", "Main PBX"]], ["id"]
                );
                for (let tries = 0; tries < 120; tries++) {
                    const [{ state }] = await orm.read("asterisk_common.server", [server.id], ["state"]);
                    if (state === "connected") {
                        break;
                    }
                    await new Promise((resolve) => setTimeout(resolve, 250));
                }
                await action.doAction("soft_reload");
            },
        },
        { trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Connected)" },
        { trigger: ".o_form_view .o_field_widget[name=asterisk_version]:contains(20.)" },
        screenshot("connected"),
        ...openLiveStatus(),
        { trigger: `${LIVE} .o_asterisk_live_status_version:contains(20.)` },
        { trigger: `${LIVE} .o_asterisk_live_status_uptime:not(:empty)` },
        { trigger: `${LIVE} .o_asterisk_live_status_channel:contains(Tour Caller)` },
        screenshot("live_status"),
    ],
});
