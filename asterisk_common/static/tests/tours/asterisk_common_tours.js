import { registry } from "@web/core/registry";

// The server form as a PBX administrator sees it: settings, secret, health.
registry.category("web_tour.tours").add("asterisk_common_server_admin", {
    steps: () => [
        { trigger: ".o_form_view .o_field_widget[name=host] input" },
        { trigger: ".o_form_view .o_field_widget[name=secret]" },
        { trigger: ".o_notebook a.nav-link:contains(Health)", run: "click" },
        { trigger: ".o_field_widget[name=events_received]" },
        { trigger: ".o_form_view .o_statusbar_status" },
    ],
});

// The same form as a PBX user: read-only, and the secret is not there at all.
registry.category("web_tour.tours").add("asterisk_common_server_user", {
    steps: () => [
        { trigger: ".o_form_view .o_field_widget[name=host]" },
        {
            trigger: ".o_form_view:not(:has(.o_field_widget[name=secret]))",
        },
        { trigger: ".o_form_view:not(:has(button[name=action_test_connection]))" },
    ],
});
