// Trends (Query.trends): series with math, interval, breakdown; line or bar, with a
// table beside the chart and every point below it. A point of a PEOPLE series lists
// its people (TrendPoint.peopleList) when clicked, in the chart or in the table.
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { PERSON_FIELDS, PAGE_SIZE, showPeople } from "../people-list.js";
import { PERIODS, RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, select, stateForm } from "../ui.js";
import { population } from "./population.js";

const MATHS = ["TOTAL", "PEOPLE", "EVENTS_PER_PERSON", "SUM", "AVERAGE", "MIN", "MAX", "MEDIAN"];
const EXTENSIONS = [population("TrendsInput")];
const PEOPLE = `query TrendsPeople($input: TrendsInput!, $after: String) { trends(input: $input) {
  series { index breakdownValue points { start peopleList(first: ${PAGE_SIZE}, after: $after) { ${PERSON_FIELDS} } } } } }`;

export function trendsInput(params, names, caps) {
  // series = "Event|MATH|property" per line
  const series = (params.series || names.slice(0, 3).join("\n")).split("\n").map((l) => l.split("|").map((s) => s.trim())).filter((r) => r[0])
    .map(([event, math = "TOTAL", property]) => ({ event, math: MATHS.includes(math) ? math : "TOTAL", ...(property ? { property } : {}) }));
  const interval = PERIODS.some(([p]) => p === params.interval) ? params.interval : "DAY";
  const input = { series, ...dayRange(params.days || "30"), interval };
  if (params.breakdown) input.breakdown = { [params.breakdownKind === "person" ? "personProperty" : "eventProperty"]: params.breakdown, limit: 10 };
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(input, ext.input(params));
  return input;
}

const label = (s) => `${s.event} (${s.math.toLowerCase().replaceAll("_", " ")})${s.breakdownValue !== null && s.breakdownValue !== undefined ? ` · ${s.breakdownValue}` : ""}`;

export default {
  id: "trends",
  title: "Trends",
  nav: true,
  requires: (caps) => caps.trends,
  async render(root, ctx) {
    const { params, caps } = ctx;
    const extensions = EXTENSIONS.filter((e) => e.requires(caps));
    const [names, keys] = await Promise.all([gql("query Names { eventNames(first: 200) }").then((d) => d.eventNames),
      extensions.length || params.breakdownKind === "person" ? propertyKeys() : []]);
    if (!ctx.current()) return;
    const vars = trendsInput(params, names, caps);
    const kind = params.chart === "bar" ? "bar" : "line";
    const form = stateForm(ctx, [
      datalist("trends-names", names), datalist("population-props", keys),
      field("Series, one per line: event | math | property", h("textarea", { name: "series", rows: 3 }, vars.series.map((s) => [s.event, s.math, s.property].filter(Boolean).join(" | ")).join("\n")), `math: ${MATHS.join(", ")}`),
      field("Time range", select("days", RANGES, params.days || "30")),
      field("Interval", select("interval", PERIODS, vars.interval)),
      field("Breakdown by", select("breakdownKind", [["event", "Event property"], ["person", "Person property"]], params.breakdownKind || "event")),
      field("Breakdown property", input("breakdown", params.breakdown, { placeholder: "none" })),
      field("Chart", select("chart", [["line", "Line"], ["bar", "Bar"]], kind)),
      ...extensions.map((e) => e.fields(params)),
    ], { submit: "Show trends" });
    const out = h("div", { id: "trends-result" });
    root.append(h("h2", {}, "Trends"), form, out);
    if (!vars.series.length) { empty(out, "Add a series."); return; }
    loading(out, "Computing the trends…");
    let report;
    try {
      report = (await gql(`query Trends($input: TrendsInput!) { trends(input: $input) {
        series { index event math breakdownValue total points { start value } } } }`, { input: vars })).trends;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    if (!report.series.length || !report.series[0].points.length) { empty(out, "No data in this range."); return; }
    if (report.series.every((s) => s.points.every((p) => !p.value))) { empty(out, "No events of these series in this range."); return; }
    const peopleBox = h("div", { id: "trends-people", "aria-live": "polite" });
    const listPoint = (si, pi) => {
      const s = report.series[si];
      if (s.math !== "PEOPLE") return;
      const point = s.points[pi];
      const one = { ...vars, series: [vars.series[s.index]] };
      showPeople(peopleBox, {
        id: "trends-people-list",
        title: `${label(s)}, ${fmt.date(point.start, vars.interval)}`,
        dataset: { series: si, point: pi },
        fetchPage: async (after) => {
          const data = await gql(PEOPLE, { input: one, after });
          const match = data.trends.series.find((x) => (x.breakdownValue ?? null) === (s.breakdownValue ?? null));
          const p = match && match.points.find((x) => x.start === point.start);
          return p ? p.peopleList : { totalCount: 0, nodes: [], pageInfo: { hasNextPage: false } };
        },
      });
    };
    const box = h("div", { id: "trends-chart" });
    const starts = report.series[0].points.map((p) => p.start);
    const totals = h("div", { class: "table-wrap" }, h("table", { id: "trends-table", class: "compact" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Series"), h("th", { scope: "col", class: "num" }, "Total"))),
      h("tbody", {}, report.series.map((s) => h("tr", { dataset: { index: s.index, total: s.total ?? "" } }, h("td", {}, label(s)), h("td", { class: "num" }, fmt.count(s.total)))))));
    const points = h("div", { class: "table-wrap scroll-y" }, h("table", { id: "trends-points", class: "compact" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Period"), report.series.map((s) => h("th", { scope: "col", class: "num" }, label(s))))),
      h("tbody", {}, starts.map((start, pi) => h("tr", { dataset: { start } }, h("td", {}, fmt.date(start, vars.interval)),
        report.series.map((s, si) => {
          const v = s.points[pi] ? s.points[pi].value : null;
          const text = fmt.count(v);
          return h("td", { class: "num", dataset: { value: v ?? "" } }, s.math === "PEOPLE" && v
            ? h("button", { type: "button", class: "link", dataset: { series: si, point: pi }, "aria-label": `People of ${label(s)} on ${fmt.date(start, vars.interval)}`, onclick: () => listPoint(si, pi) }, text)
            : text);
        }))))));
    const hasPeople = report.series.some((s) => s.math === "PEOPLE");
    out.replaceChildren(card("Trends", h("div", { class: "chart-and-table" }, box, totals)),
      card("By period", points, hasPeople ? h("p", { class: "muted" }, "Click a point of a people series (in the chart or here) to list its people.") : ""),
      peopleBox);
    const c = chart(box, {
      tooltip: { trigger: kind === "bar" ? "axis" : "item" }, legend: { type: "scroll", top: 0 },
      grid: { left: 56, right: 16, top: 36, bottom: 28 },
      xAxis: { type: "category", data: starts.map((s) => fmt.date(s, vars.interval)) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => fmt.count(v) } },
      series: report.series.map((s) => ({ name: label(s), type: kind, showSymbol: starts.length <= 120, symbolSize: 6, data: s.points.map((p) => p.value) })),
    });
    c.on("click", (p) => listPoint(p.seriesIndex, p.dataIndex));
  },
};
