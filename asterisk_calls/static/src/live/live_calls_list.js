import { onWillUnmount, status } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";

/** The list of calls in progress: reloaded when the server says calls
 * started, were answered or ended, or a phone of the user rings (bus); when
 * the user clicks to dial (local bus); never by polling. */
const LIVE_MESSAGES = ["asterisk_calls.live", "asterisk_calls.ring", "asterisk_calls.ring_end"];
export class LiveCallsListController extends ListController {
    setup() {
        super.setup();
        const bus = useService("bus_service");
        let timer = null;
        const reload = async () => {
            try {
                await this.model.load();
            } catch (error) {
                // Left meanwhile (the list is gone): nothing to refresh.
                if (status(this) !== "destroyed") {
                    throw error;
                }
            }
        };
        const refresh = () => {
            clearTimeout(timer);
            timer = setTimeout(reload, 300);
        };
        for (const message of LIVE_MESSAGES) {
            bus.subscribe(message, refresh);
        }
        this.env.bus.addEventListener("ASTERISK_CALLS:LIVE", refresh);
        onWillUnmount(() => {
            clearTimeout(timer);
            for (const message of LIVE_MESSAGES) {
                bus.unsubscribe(message, refresh);
            }
            this.env.bus.removeEventListener("ASTERISK_CALLS:LIVE", refresh);
        });
    }
}

registry.category("views").add("pbx_live_calls_list", {
    ...listView,
    Controller: LiveCallsListController,
});
