import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

/**
 * "Download Config Files" reads one file after the other over AMI: the server
 * reports each one on the bus ("asterisk_base.conf_progress"), shown here as
 * one notification that follows the count.
 */
export const confProgressService = {
    dependencies: ["bus_service", "notification"],
    start(env, { bus_service, notification }) {
        let close = null;
        bus_service.subscribe("asterisk_base.conf_progress", ({ server, done, total, file }) => {
            close?.();
            const finished = done >= total;
            close = notification.add(
                finished
                    ? _t("%(server)s: %(total)s config files downloaded.", { server, total })
                    : _t("%(server)s: downloading config files, %(done)s of %(total)s (%(file)s)…", {
                          server,
                          done,
                          total,
                          file,
                      }),
                { type: finished ? "success" : "info", sticky: !finished }
            );
        });
        bus_service.start();
    },
};

registry.category("services").add("asterisk_base.conf_progress", confProgressService);
