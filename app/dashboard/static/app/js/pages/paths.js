// Paths (Query.paths): a Sankey from a start event or to an end event. In the
// navigation only when the server has PathsReport.
import { gql } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, select, stateForm, table } from "../ui.js";

export function pathsInput(params, names) {
  const vars = { ...dayRange(params.days || "30"), depth: Math.min(8, Math.max(2, Number(params.depth) || 4)), limit: Math.min(30, Math.max(2, Number(params.limit) || 10)) };
  if (params.endEvent) vars.endEvent = params.endEvent; else vars.startEvent = params.startEvent || names[0];
  return vars;
}

export default {
  id: "paths",
  title: "Paths",
  nav: true,
  requires: (caps) => caps.paths,
  async render(root, ctx) {
    const { params } = ctx;
    const names = (await gql("query Names { eventNames(first: 200) }")).eventNames;
    if (!ctx.current()) return;
    const vars = pathsInput(params, names);
    const form = stateForm(ctx, [
      datalist("paths-names", names),
      field("Start event", input("startEvent", params.startEvent ?? (vars.startEvent || ""), { list: "paths-names" })),
      field("or end event", input("endEvent", params.endEvent, { list: "paths-names" })),
      field("Steps", input("depth", String(vars.depth), { type: "number", min: 2, max: 8 })),
      field("Events per step", input("limit", String(vars.limit), { type: "number", min: 2, max: 30 })),
      field("Time range", select("days", RANGES, params.days || "30")),
    ], { submit: "Show paths" });
    const out = h("div", { id: "paths-result" });
    root.append(h("h2", {}, "Paths"), form, out);
    loading(out);
    let report;
    try {
      report = (await gql(`query Paths($input: PathsInput!) { paths(input: $input) {
        nodes { step event people } links { fromStep source target people } } }`, { input: vars })).paths;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    if (!report.links.length) { empty(out, "No paths in this range."); return; }
    const key = (step, event) => `${step + 1}. ${event ?? "other"}`;
    const box = h("div", { id: "paths-chart" });
    out.replaceChildren(card("Paths", box, table([
      { label: "From", cell: (l) => key(l.fromStep, l.source) },
      { label: "To", cell: (l) => key(l.fromStep + 1, l.target) },
      { label: "People", class: "num", cell: (l) => fmt.count(l.people) },
    ], report.links, { id: "paths-table" })));
    chart(box, {
      tooltip: { trigger: "item" },
      series: [{ type: "sankey", emphasis: { focus: "adjacency" }, nodeAlign: "left", layoutIterations: 32,
        data: report.nodes.map((n) => ({ name: key(n.step, n.event), value: n.people })),
        links: report.links.map((l) => ({ source: key(l.fromStep, l.source), target: key(l.fromStep + 1, l.target), value: l.people })),
        lineStyle: { color: "gradient", opacity: 0.35 }, label: { fontSize: 11 } }],
    }, { height: 420 });
  },
};
