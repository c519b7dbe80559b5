// Paths (Query.paths): a Sankey from a start event or to an end event; clicking a
// node (in the chart or in the table) lists its people (PathNode.peopleList).
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { PERSON_FIELDS, PAGE_SIZE, showPeople } from "../people-list.js";
import { RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, select, stateForm, table } from "../ui.js";
import { population } from "./population.js";

const EXTENSIONS = [population("PathsInput")];
const PEOPLE = `query PathsPeople($input: PathsInput!, $after: String) { paths(input: $input) {
  nodes { step event peopleList(first: ${PAGE_SIZE}, after: $after) { ${PERSON_FIELDS} } } } }`;

export function pathsInput(params, names, caps) {
  const vars = { ...dayRange(params.days || "30"), depth: Math.min(8, Math.max(2, Number(params.depth) || 4)), limit: Math.min(30, Math.max(2, Number(params.limit) || 8)) };
  if (params.endEvent) vars.endEvent = params.endEvent; else vars.startEvent = params.startEvent || names[0];
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(vars, ext.input(params));
  return vars;
}

export default {
  id: "paths",
  title: "Paths",
  nav: true,
  requires: (caps) => caps.paths,
  async render(root, ctx) {
    const { params, caps } = ctx;
    const extensions = EXTENSIONS.filter((e) => e.requires(caps));
    const [names, keys] = await Promise.all([gql("query Names { eventNames(first: 200) }").then((d) => d.eventNames),
      extensions.length ? propertyKeys() : []]);
    if (!ctx.current()) return;
    if (!names.length && !params.startEvent && !params.endEvent) {
      const b = h("div", { id: "paths-result" }); root.append(h("h2", {}, "Paths"), b); empty(b, "No events yet."); return;
    }
    const vars = pathsInput(params, names, caps);
    const form = stateForm(ctx, [
      datalist("paths-names", names), datalist("population-props", keys),
      field("Start event", input("startEvent", params.endEvent ? "" : (vars.startEvent || ""), { list: "paths-names" })),
      field("or end event", input("endEvent", params.endEvent, { list: "paths-names" }), "an end event wins over a start event"),
      field("Steps", input("depth", String(vars.depth), { type: "number", min: 2, max: 8 })),
      field("Events per step", input("limit", String(vars.limit), { type: "number", min: 2, max: 30 })),
      field("Time range", select("days", RANGES, params.days || "30")),
      ...extensions.map((e) => e.fields(params)),
    ], { submit: "Show paths" });
    const out = h("div", { id: "paths-result" });
    root.append(h("h2", {}, "Paths"), form, out);
    loading(out, "Following the paths…");
    let report;
    try {
      report = (await gql(`query Paths($input: PathsInput!) { paths(input: $input) {
        nodes { step event people } links { fromStep source target people } } }`, { input: vars })).paths;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    if (!report.nodes.length) { empty(out, `Nobody did ${vars.endEvent || vars.startEvent} in this range.`); return; }
    // Steps as people read them: 1, 2, … from a start event; …, −2, −1, end from an end event.
    const stepName = (step) => (vars.endEvent ? (step === 0 ? "end" : String(step)) : String(step + 1));
    const key = (step, event) => `${stepName(step)}. ${event ?? "other"}`;
    const peopleBox = h("div", { id: "paths-people", "aria-live": "polite" });
    const listNode = (node) => showPeople(peopleBox, {
      id: "paths-people-list", title: `People at ${key(node.step, node.event)}`,
      dataset: { step: node.step, event: node.event ?? "" },
      fetchPage: async (after) => {
        const data = await gql(PEOPLE, { input: vars, after });
        const n = data.paths.nodes.find((x) => x.step === node.step && (x.event ?? null) === (node.event ?? null));
        return n ? n.peopleList : { totalCount: 0, nodes: [], pageInfo: { hasNextPage: false } };
      },
    });
    const box = h("div", { id: "paths-chart" });
    const nodesTable = table([
      { label: "Step", cell: (n) => stepName(n.step) },
      { label: "Event", cell: (n) => n.event ?? "other" },
      { label: "People", class: "num", cell: (n) => h("button", { type: "button", class: "link", dataset: { step: n.step, event: n.event ?? "" }, "aria-label": `People at ${key(n.step, n.event)}`, onclick: () => listNode(n) }, fmt.count(n.people)) },
    ], report.nodes, { id: "paths-nodes", class: "compact" });
    const linksTable = table([
      { label: "From", cell: (l) => key(l.fromStep, l.source) },
      { label: "To", cell: (l) => key(l.fromStep + 1, l.target) },
      { label: "People", class: "num", cell: (l) => fmt.count(l.people) },
    ], report.links, { id: "paths-table", class: "compact" });
    const steps = new Set(report.nodes.map((n) => n.step)).size;
    out.replaceChildren(card("Paths", box, h("p", { class: "muted" }, "Click a node (or its number below) to list its people.")),
      h("div", { class: "grid2" }, card("Nodes", h("div", { class: "table-wrap scroll-y" }, nodesTable)), card("Links", h("div", { class: "table-wrap scroll-y" }, linksTable))),
      peopleBox);
    const c = chart(box, {
      tooltip: { trigger: "item" },
      series: [{ type: "sankey", emphasis: { focus: "adjacency" }, nodeAlign: vars.endEvent ? "right" : "left", layoutIterations: 32,
        left: 8, right: box.clientWidth < 520 ? 8 : 140, nodeGap: 10,
        data: report.nodes.map((n) => ({ name: key(n.step, n.event), value: n.people, node: n })),
        links: report.links.map((l) => ({ source: key(l.fromStep, l.source), target: key(l.fromStep + 1, l.target), value: l.people })),
        lineStyle: { color: "gradient", opacity: 0.35 }, label: { fontSize: 11, show: box.clientWidth >= 520 || steps <= 3 } }],
    }, { height: Math.max(360, Math.min(720, 28 * Math.max(...[...new Set(report.nodes.map((n) => n.step))].map((s) => report.nodes.filter((n) => n.step === s).length)))) });
    c.on("click", (p) => { if (p.dataType === "node") listNode(report.nodes[p.dataIndex]); });
  },
};
