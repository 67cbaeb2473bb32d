import { patch } from "@web/core/utils/patch";
import { PhoneField } from "@web/views/fields/phone/phone_field";
import { PbxDialButton } from "./pbx_dial_button";

// Every phone field of the backend (list and form) gets the PBX button.
patch(PhoneField, {
    components: { ...PhoneField.components, PbxDialButton },
});
