import { reactive } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

/**
 * Incoming-call popups: the server sends "asterisk_calls.ring" to the users
 * whose phone rings and "asterisk_calls.ring_end" once the call is answered
 * or over. Every value shown comes from the caller: the popup renders it as
 * text only.
 */
export const callPopupService = {
    dependencies: ["bus_service", "action"],
    start(env, { bus_service, action }) {
        const state = reactive({ cards: [] });

        const find = (callId) => state.cards.find((card) => card.key === callId);
        const close = (card) => {
            // By key: the component holds another proxy of the same card.
            const index = state.cards.findIndex((other) => other.key === card.key);
            if (index >= 0) {
                state.cards.splice(index, 1);
            }
        };
        const openPartner = (partnerId) =>
            action.doAction({
                type: "ir.actions.act_window",
                res_model: "res.partner",
                res_id: partnerId,
                views: [[false, "form"]],
            });

        bus_service.subscribe("asterisk_calls.ring", (payload) => {
            const key = payload.call_id || `test-${Date.now()}`;
            const card = find(key);
            if (card) {
                Object.assign(card, payload);
            } else {
                state.cards.push({ ...payload, key, ended: "" });
            }
        });
        bus_service.subscribe("asterisk_calls.ring_end", (payload) => {
            if (payload.open_partner_id) {
                openPartner(payload.open_partner_id);
            }
            const card = find(payload.call_id);
            if (!card) {
                return;
            }
            if (!card.sticky) {
                close(card);
            } else if (payload.answered_by_me) {
                card.ended = _t("You answered");
            } else if (payload.answered_by) {
                card.ended = _t("Answered by %s", payload.answered_by);
            } else {
                card.ended = _t("Missed");
            }
        });
        bus_service.start();

        return {
            state,
            close,
            openPartner,
            openCall(card) {
                return action.doAction({
                    type: "ir.actions.act_window",
                    res_model: "asterisk_calls.call",
                    res_id: card.call_id,
                    views: [[false, "form"]],
                });
            },
            createPartner(card) {
                const number = card.caller_number;
                return action.doAction({
                    type: "ir.actions.act_window",
                    res_model: "res.partner",
                    views: [[false, "form"]],
                    context: {
                        default_name: card.caller_name || number,
                        default_phone: number,
                    },
                });
            },
        };
    },
};

registry.category("services").add("asterisk_calls_popup", callPopupService);
