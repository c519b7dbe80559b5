// Funnel exclusions (FunnelInput.exclusions): people who did an event between two steps
// leave the funnel; and holdConstant: every step must share an event property's value
// with the first step. Shown when the server's FunnelInput has `exclusions`.
import { field, h, input } from "../ui.js";

export default {
  requires: (caps) => caps.funnelExclusions,
  // State: exclude = "Event:after:before" per line, steps counted from 1 as on screen; hold = property.
  fields: (params) => h("div", { class: "field-group" },
    field("Exclusions, one per line: event : after step : before step",
      h("textarea", { name: "exclude", rows: 2, placeholder: "Cancelled Subscription : 1 : 2" }, params.exclude || "")),
    field("Hold constant (event property)", input("hold", params.hold, { placeholder: "none", list: "funnel-props" }))),
  input(params) {
    const out = {};
    const rows = (params.exclude || "").split("\n").map((l) => l.split(":").map((s) => s.trim())).filter((r) => r[0]);
    if (rows.length) out.exclusions = rows.map(([event, a = "1", b = "2"]) => ({ event, afterStep: Number(a) - 1, beforeStep: Number(b) - 1 }));
    if (params.hold) out.holdConstant = params.hold;
    return out;
  },
  selection: () => "",
  render: () => null,
};
