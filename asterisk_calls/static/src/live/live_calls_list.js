import { onWillUnmount } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";

/** The list of calls in progress: reloaded when the server says calls
 * started, were answered or ended (bus), never by polling. */
export class LiveCallsListController extends ListController {
    setup() {
        super.setup();
        const bus = useService("bus_service");
        let timer = null;
        const refresh = () => {
            clearTimeout(timer);
            timer = setTimeout(() => this.model.load(), 300);
        };
        bus.subscribe("asterisk_calls.live", refresh);
        onWillUnmount(() => {
            clearTimeout(timer);
            bus.unsubscribe("asterisk_calls.live", refresh);
        });
    }
}

registry.category("views").add("pbx_live_calls_list", {
    ...listView,
    Controller: LiveCallsListController,
});
