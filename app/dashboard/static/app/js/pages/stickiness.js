// Stickiness (Query.stickiness): how many people did the event in exactly n of the
// range's periods. Clicking a bar or a number lists them (StickinessBucket.peopleList).
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { PERSON_FIELDS, PAGE_SIZE, showPeople } from "../people-list.js";
import { PERIODS, RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, select, stateForm, table } from "../ui.js";
import { population } from "./population.js";

const EXTENSIONS = [population("StickinessInput")];
const PEOPLE = `query StickinessPeople($input: StickinessInput!, $after: String) { stickiness(input: $input) {
  buckets { periods peopleList(first: ${PAGE_SIZE}, after: $after) { ${PERSON_FIELDS} } } } }`;
const UNIT = { HOUR: "hour", DAY: "day", WEEK: "week", MONTH: "month" };

export function stickinessInput(params, names, caps) {
  const event = params.event || (names.includes("Logged In") ? "Logged In" : names[0]);
  const interval = PERIODS.some(([p]) => p === params.interval) ? params.interval : "DAY";
  const input = { event, ...dayRange(params.days || "30"), interval };
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(input, ext.input(params));
  return input;
}

export default {
  id: "stickiness",
  title: "Stickiness",
  nav: true,
  requires: (caps) => caps.stickiness,
  async render(root, ctx) {
    const { params, caps } = ctx;
    const extensions = EXTENSIONS.filter((e) => e.requires(caps));
    const [names, keys] = await Promise.all([gql("query Names { eventNames(first: 200) }").then((d) => d.eventNames),
      extensions.length ? propertyKeys() : []]);
    if (!ctx.current()) return;
    const out = h("div", { id: "stickiness-result" });
    if (!names.length) { root.append(h("h2", {}, "Stickiness"), out); empty(out, "No events yet."); return; }
    const vars = stickinessInput(params, names, caps);
    const form = stateForm(ctx, [
      datalist("stickiness-names", names), datalist("population-props", keys),
      field("Event", input("event", vars.event, { list: "stickiness-names" })),
      field("Interval", select("interval", PERIODS, vars.interval)),
      field("Time range", select("days", RANGES, params.days || "30")),
      ...extensions.map((e) => e.fields(params)),
    ], { submit: "Show stickiness" });
    root.append(h("h2", {}, "Stickiness"), form, out);
    loading(out, "Computing the stickiness…");
    let report;
    try {
      report = (await gql(`query Stickiness($input: StickinessInput!) { stickiness(input: $input) {
        intervals buckets { periods people } } }`, { input: vars })).stickiness;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    const buckets = report.buckets;
    const total = buckets.reduce((a, b) => a + b.people, 0);
    if (!total) { empty(out, `Nobody did ${vars.event} in this range.`); return; }
    const unit = UNIT[vars.interval];
    const name = (n) => `${n} ${unit}${n === 1 ? "" : "s"}`;
    const peopleBox = h("div", { id: "stickiness-people", "aria-live": "polite" });
    const list = (b) => showPeople(peopleBox, {
      id: "stickiness-people-list", title: `Did ${vars.event} in exactly ${name(b.periods)}`, dataset: { periods: b.periods },
      fetchPage: async (after) => {
        const data = await gql(PEOPLE, { input: vars, after });
        const x = data.stickiness.buckets.find((y) => y.periods === b.periods);
        return x ? x.peopleList : { totalCount: 0, nodes: [], pageInfo: { hasNextPage: false } };
      },
    });
    const box = h("div", { id: "stickiness-chart" });
    const tbl = table([
      { label: `Active ${unit}s`, cell: (b) => String(b.periods) },
      { label: "People", class: "num", cell: (b) => (b.people ? h("button", { type: "button", class: "link", dataset: { periods: b.periods }, "aria-label": `People active in ${name(b.periods)}`, onclick: () => list(b) }, fmt.count(b.people)) : "0") },
      { label: "Share", class: "num", cell: (b) => fmt.percent(b.people / total) },
    ], buckets, { id: "stickiness-table", class: "compact" });
    out.replaceChildren(
      h("div", { class: "stats" },
        h("div", { class: "stat", id: "stickiness-people-total", dataset: { value: total } }, h("div", { class: "stat-value" }, fmt.count(total)), h("div", { class: "stat-label" }, `people did ${vars.event}`)),
        h("div", { class: "stat", id: "stickiness-intervals", dataset: { value: report.intervals } }, h("div", { class: "stat-value" }, fmt.count(report.intervals)), h("div", { class: "stat-label" }, `${unit}s in the range`))),
      card(`In how many ${unit}s people did ${vars.event}`, h("div", { class: "chart-and-table" }, box, h("div", { class: "table-wrap scroll-y" }, tbl)),
        h("p", { class: "muted" }, "Click a bar or a number to list the people.")),
      peopleBox);
    const c = chart(box, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 56, right: 16, top: 16, bottom: 40 },
      xAxis: { type: "category", name: `${unit}s active`, nameLocation: "middle", nameGap: 26, data: buckets.map((b) => String(b.periods)) },
      yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => fmt.count(v) } },
      series: [{ type: "bar", name: "People", data: buckets.map((b) => b.people) }],
    });
    c.on("click", (p) => list(buckets[p.dataIndex]));
  },
};
