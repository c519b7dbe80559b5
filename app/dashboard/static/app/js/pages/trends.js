// Trends (Query.trends): series with math, interval, breakdown; line or bar, with a
// table beside the chart. In the navigation only when the server has TrendsReport.
import { gql } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { PERIODS, RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, select, stateForm } from "../ui.js";

const MATHS = ["TOTAL", "PEOPLE", "EVENTS_PER_PERSON", "SUM", "AVERAGE", "MIN", "MAX", "MEDIAN"];

export function trendsInput(params, names) {
  // series = "Event|MATH|property" per line
  const series = (params.series || names.slice(0, 3).join("\n")).split("\n").map((l) => l.split("|").map((s) => s.trim())).filter((r) => r[0])
    .map(([event, math = "TOTAL", property]) => ({ event, math: MATHS.includes(math) ? math : "TOTAL", ...(property ? { property } : {}) }));
  const interval = PERIODS.some(([p]) => p === params.interval) ? params.interval : "DAY";
  const input = { series, ...dayRange(params.days || "30"), interval };
  if (params.breakdown) input.breakdown = { [params.breakdownKind === "person" ? "personProperty" : "eventProperty"]: params.breakdown, limit: 10 };
  return input;
}

export default {
  id: "trends",
  title: "Trends",
  nav: true,
  requires: (caps) => caps.trends,
  async render(root, ctx) {
    const { params } = ctx;
    const names = (await gql("query Names { eventNames(first: 200) }")).eventNames;
    if (!ctx.current()) return;
    const vars = trendsInput(params, names);
    const kind = params.chart === "bar" ? "bar" : "line";
    const form = stateForm(ctx, [
      datalist("trends-names", names),
      field("Series, one per line: event | math | property", h("textarea", { name: "series", rows: 3 }, vars.series.map((s) => [s.event, s.math, s.property].filter(Boolean).join(" | ")).join("\n")), `math: ${MATHS.join(", ")}`),
      field("Time range", select("days", RANGES, params.days || "30")),
      field("Interval", select("interval", PERIODS, vars.interval)),
      field("Breakdown by", select("breakdownKind", [["event", "Event property"], ["person", "Person property"]], params.breakdownKind || "event")),
      field("Breakdown property", input("breakdown", params.breakdown, { placeholder: "none" })),
      field("Chart", select("chart", [["line", "Line"], ["bar", "Bar"]], kind)),
    ], { submit: "Show trends" });
    const out = h("div", { id: "trends-result" });
    root.append(h("h2", {}, "Trends"), form, out);
    if (!vars.series.length) { empty(out, "Add a series."); return; }
    loading(out);
    let report;
    try {
      report = (await gql(`query Trends($input: TrendsInput!) { trends(input: $input) {
        series { index event math breakdownValue total points { start value } } } }`, { input: vars })).trends;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    if (!report.series.length || !report.series[0].points.length) { empty(out, "No data in this range."); return; }
    const label = (s) => `${s.event} (${s.math.toLowerCase()})${s.breakdownValue !== null && s.breakdownValue !== undefined ? ` · ${s.breakdownValue}` : ""}`;
    const box = h("div", { id: "trends-chart" });
    const starts = report.series[0].points.map((p) => p.start);
    const tbl = h("div", { class: "table-wrap" }, h("table", { id: "trends-table", class: "compact" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Series"), h("th", { scope: "col", class: "num" }, "Total"))),
      h("tbody", {}, report.series.map((s) => h("tr", { dataset: { index: s.index, total: s.total ?? "" } }, h("td", {}, label(s)), h("td", { class: "num" }, fmt.count(s.total)))))));
    out.replaceChildren(card("Trends", h("div", { class: "chart-and-table" }, box, tbl)));
    chart(box, {
      tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 },
      grid: { left: 56, right: 16, top: 36, bottom: 28 },
      xAxis: { type: "category", data: starts.map((s) => fmt.date(s, vars.interval)) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => fmt.count(v) } },
      series: report.series.map((s) => ({ name: label(s), type: kind, showSymbol: false, data: s.points.map((p) => p.value) })),
    });
  },
};
