// Conversion over time (FunnelReport.trend): by the period in which people entered.
// Shown when the server's FunnelReport has `trend`.
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { card, empty, field, h, select, table, PERIODS } from "../ui.js";

const intervalOf = (params) => (PERIODS.some(([p]) => p === params.trendInterval) ? params.trendInterval : "WEEK");

export default {
  requires: (caps) => caps.funnelTrend,
  fields: (params) => field("Conversion over time by", select("trendInterval", PERIODS, intervalOf(params))),
  input: () => ({}),
  selection: (params) => `trend(interval: ${intervalOf(params)}) { start entered converted rate }`,
  render(report, params) {
    const box = h("div", { id: "funnel-trend" });
    const points = report.trend || [];
    const rows = table([
      { label: "Entered in", cell: (p) => fmt.date(p.start, intervalOf(params)) },
      { label: "Entered", class: "num", cell: (p) => fmt.count(p.entered) },
      { label: "Converted", class: "num", cell: (p) => fmt.count(p.converted) },
      { label: "Conversion", class: "num", cell: (p) => fmt.percent(p.rate) },
    ], points, { id: "funnel-trend-table", class: "compact" });
    rows.classList.add("scroll-y");
    const c = card("Conversion over time (by the period people entered)", box, rows);
    if (!points.length) { empty(box, "No one entered in this range."); return c; }
    queueMicrotask(() => chart(box, {
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt.percent(v) },
      grid: { left: 56, right: 16, top: 16, bottom: 28 },
      xAxis: { type: "category", data: points.map((p) => fmt.date(p.start, intervalOf(params))) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => fmt.percent(v) } },
      series: [{ type: "line", name: "Conversion", data: points.map((p) => p.rate) }],
    }, { height: 240 }));
    return c;
  },
};
