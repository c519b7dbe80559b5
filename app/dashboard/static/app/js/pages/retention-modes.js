// Retention modes (CohortInput.mode, .cumulative): first-time or recurring cohorts,
// cumulative cells. Shown when the server's CohortInput has them.
import { field, h, select } from "../ui.js";

export default {
  requires: (caps) => caps.retentionModes,
  fields: (params) => h("div", { class: "field-group" },
    field("Cohort mode", select("mode", [["FIRST_TIME", "First time"], ["RECURRING", "Recurring"]], params.mode || "FIRST_TIME")),
    field("Cumulative", select("cumulative", [["", "No"], ["1", "Yes: returned in this bucket or later"]], params.cumulative || ""))),
  input: (params) => ({ mode: params.mode === "RECURRING" ? "RECURRING" : "FIRST_TIME", cumulative: params.cumulative === "1" }),
};
