// Lifecycle (Query.lifecycle): per period, the people who did the event for the
// first time (new), again after the period before (returning), again after a gap
// (resurrecting), and those of the period before who did not (dormant, drawn below
// zero). Clicking a bar or a number lists those people (LifecyclePoint.peopleList).
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { PERSON_FIELDS, PAGE_SIZE, showPeople } from "../people-list.js";
import { PERIODS, RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, select, stateForm } from "../ui.js";
import { population } from "./population.js";

const EXTENSIONS = [population("LifecycleInput")];
export const STATUSES = [["NEW", "new", "New", "#1e8e3e"], ["RETURNING", "returning", "Returning", "#2f6fed"],
  ["RESURRECTING", "resurrecting", "Resurrecting", "#9b51e0"], ["DORMANT", "dormant", "Dormant", "#e8793a"]];
const PEOPLE = `query LifecyclePeople($input: LifecycleInput!, $status: LifecycleStatus!, $after: String) { lifecycle(input: $input) {
  points { start peopleList(status: $status, first: ${PAGE_SIZE}, after: $after) { ${PERSON_FIELDS} } } } }`;

export function lifecycleInput(params, names, caps) {
  const event = params.event || (names.includes("Logged In") ? "Logged In" : names[0]);
  const interval = PERIODS.some(([p]) => p === params.interval) ? params.interval : "WEEK";
  const input = { event, ...dayRange(params.days || "90"), interval };
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(input, ext.input(params));
  return input;
}

export default {
  id: "lifecycle",
  title: "Lifecycle",
  nav: true,
  requires: (caps) => caps.lifecycle,
  async render(root, ctx) {
    const { params, caps } = ctx;
    const extensions = EXTENSIONS.filter((e) => e.requires(caps));
    const [names, keys] = await Promise.all([gql("query Names { eventNames(first: 200) }").then((d) => d.eventNames),
      extensions.length ? propertyKeys() : []]);
    if (!ctx.current()) return;
    const out = h("div", { id: "lifecycle-result" });
    if (!names.length) { root.append(h("h2", {}, "Lifecycle"), out); empty(out, "No events yet."); return; }
    const vars = lifecycleInput(params, names, caps);
    const form = stateForm(ctx, [
      datalist("lifecycle-names", names), datalist("population-props", keys),
      field("Event", input("event", vars.event, { list: "lifecycle-names" })),
      field("Interval", select("interval", PERIODS, vars.interval)),
      field("Time range", select("days", RANGES, params.days || "90")),
      ...extensions.map((e) => e.fields(params)),
    ], { submit: "Show lifecycle" });
    root.append(h("h2", {}, "Lifecycle"), form, out);
    loading(out, "Computing the lifecycle…");
    let report;
    try {
      report = (await gql(`query Lifecycle($input: LifecycleInput!) { lifecycle(input: $input) {
        points { start new returning resurrecting dormant } } }`, { input: vars })).lifecycle;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    const points = report.points;
    if (!points.some((p) => p.new || p.returning || p.resurrecting || p.dormant)) { empty(out, `Nobody did ${vars.event} in this range.`); return; }
    const peopleBox = h("div", { id: "lifecycle-people", "aria-live": "polite" });
    const list = (pi, status) => {
      const [, , title] = STATUSES.find(([s]) => s === status);
      const point = points[pi];
      showPeople(peopleBox, {
        id: "lifecycle-people-list", title: `${title}, ${fmt.date(point.start, vars.interval)}`, dataset: { point: pi, status },
        fetchPage: async (after) => {
          const data = await gql(PEOPLE, { input: vars, status, after });
          const p = data.lifecycle.points.find((x) => x.start === point.start);
          return p ? p.peopleList : { totalCount: 0, nodes: [], pageInfo: { hasNextPage: false } };
        },
      });
    };
    const box = h("div", { id: "lifecycle-chart" });
    const tbl = h("div", { class: "table-wrap scroll-y" }, h("table", { id: "lifecycle-table", class: "compact" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Period"), STATUSES.map(([, , t]) => h("th", { scope: "col", class: "num" }, t)))),
      h("tbody", {}, points.map((p, pi) => h("tr", { dataset: { start: p.start } }, h("td", {}, fmt.date(p.start, vars.interval)),
        STATUSES.map(([status, f, t]) => h("td", { class: "num", dataset: { field: f } }, p[f]
          ? h("button", { type: "button", class: "link", dataset: { point: pi, status }, "aria-label": `${t} people, ${fmt.date(p.start, vars.interval)}`, onclick: () => list(pi, status) }, fmt.count(p[f]))
          : "0")))))));
    out.replaceChildren(card(`${vars.event}: people by lifecycle status`, box,
      h("p", { class: "muted" }, "New: first time ever. Returning: also active the period before. Resurrecting: back after at least one period away. Dormant (below zero): active the period before, not in this one. Click a bar or a number to list the people.")),
      card("By period", tbl), peopleBox);
    const c = chart(box, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => fmt.count(Math.abs(v)) },
      legend: { top: 0 }, grid: { left: 56, right: 16, top: 36, bottom: 28 },
      xAxis: { type: "category", data: points.map((p) => fmt.date(p.start, vars.interval)) },
      yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => fmt.count(v) } },
      series: STATUSES.map(([status, f, t, color]) => ({ name: t, type: "bar", stack: status === "DORMANT" ? "down" : "up", itemStyle: { color },
        data: points.map((p) => (status === "DORMANT" ? -p[f] : p[f])) })),
    }, { height: 360 });
    c.on("click", (p) => list(p.dataIndex, STATUSES[p.seriesIndex][0]));
  },
};
