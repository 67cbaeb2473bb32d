import { user } from "@web/core/user";

/**
 * The first step of the popup tours: the PBX admin's test popup (as if a call
 * from ``callerNumber`` rang their phone), then a new bus subscription, which
 * makes the test server send what is pending (it never gets PostgreSQL's NOTIFY).
 */
export function testPopupStep(callerName, callerNumber, channel) {
    return {
        trigger: ".o_main_navbar",
        async run() {
            const { orm, bus_service } = odoo.__WOWL_DEBUG__.root.env.services;
            const [pbxUser] = await orm.search("asterisk_common.user", [
                ["user_id", "=", user.userId],
            ]);
            await orm.call("asterisk_common.user", "action_test_popup", [[pbxUser]], {
                caller_name: callerName,
                caller_number: callerNumber,
            });
            await bus_service.addChannel(channel);
        },
    };
}
