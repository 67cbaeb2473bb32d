import { registry } from "@web/core/registry";
import { graphView } from "@web/views/graph/graph_view";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

/**
 * The graph view of calls (js_class="pbx_graph"): a count of calls is a whole
 * number, so when the counts are small the y axis must not show 0.5 or 1.5, as
 * Chart.js does by default. For an integer measure (Count, an integer field)
 * its ticks are whole numbers (Chart.js ticks.precision); other measures are
 * left as Odoo draws them.
 */
export class PbxGraphRenderer extends GraphRenderer {
    getScaleOptions() {
        const scales = super.getScaleOptions();
        const { measure, measures } = this.model.metaData;
        if (scales.y && measures[measure]?.type === "integer") {
            scales.y.ticks.precision = 0;
        }
        return scales;
    }
}

export const pbxGraphView = { ...graphView, Renderer: PbxGraphRenderer };

registry.category("views").add("pbx_graph", pbxGraphView);
