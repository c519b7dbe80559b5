// Revenue: totals, the series chart, revenue by first-touch source, top people.
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { population } from "./population.js";
import { PERIODS, RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, personLink, select, stat, stateForm, table } from "../ui.js";

const EXTENSIONS = [population("RevenueReportInput")];

export function revenueInput(params, caps) {
  const days = RANGES.some(([d]) => d === params.days) ? params.days : "182";
  const interval = PERIODS.some(([p]) => p === params.interval) ? params.interval : "MONTH";
  const input = { ...dayRange(days), interval, sourceProperty: params.sourceProperty || "Campaign Source" };
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(input, ext.input(params));
  return input;
}

export default {
  id: "revenue",
  title: "Revenue",
  nav: true,
  async render(root, ctx) {
    const vars = revenueInput(ctx.params, ctx.caps);
    const extensions = EXTENSIONS.filter((e) => e.requires(ctx.caps));
    const form = stateForm(ctx, [
      field("Time range", select("days", RANGES, ctx.params.days || "182")),
      field("Interval", select("interval", PERIODS, vars.interval)),
      field("Source property (first touch)", input("sourceProperty", vars.sourceProperty)),
      ...extensions.map((e) => e.fields(ctx.params)),
    ], { submit: "Show revenue" });
    if (extensions.length) form.append(datalist("population-props", await propertyKeys()));
    const out = h("div", { id: "revenue-result" });
    root.append(h("h2", {}, "Revenue"), form, out);
    loading(out, "Computing revenue…");
    let r;
    try {
      r = (await gql(`query Revenue($input: RevenueReportInput!) { revenueReport(input: $input) {
        total gross refunds payingPeople averageRevenuePerPayingPerson
        series { start total gross refunds payingPeople }
        bySource { value total payingPeople averageRevenuePerPayingPerson }
        topPeople(first: 20) { totalCount nodes { revenue person { id identities } } } } }`, { input: vars })).revenueReport;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    const stats = h("div", { class: "stats", id: "revenue-totals" },
      stat("Revenue", fmt.money(r.total), { id: "revenue-total", dataset: { value: r.total } }),
      stat("Gross", fmt.money(r.gross), { id: "revenue-gross", dataset: { value: r.gross } }),
      stat("Refunds", fmt.money(r.refunds), { id: "revenue-refunds", dataset: { value: r.refunds } }),
      stat("Paying people", fmt.count(r.payingPeople), { id: "revenue-paying", dataset: { value: r.payingPeople } }),
      stat("Per paying person", fmt.money(r.averageRevenuePerPayingPerson), { id: "revenue-arppu", dataset: { value: r.averageRevenuePerPayingPerson } }));
    if (Number(r.gross) === 0 && Number(r.refunds) === 0 && r.payingPeople === 0) {
      out.replaceChildren(stats);
      const e = h("div"); out.append(e); empty(e, "No revenue in this range. Revenue comes from events with a Revenue property.");
      return;
    }
    const series = h("div", { id: "revenue-chart" });
    const sources = h("div", { id: "revenue-sources" });
    out.replaceChildren(stats, card("Revenue by " + vars.interval.toLowerCase(), series),
      h("div", { class: "grid2" },
        card(`By ${vars.sourceProperty}`, sources, table([
          { label: "Source", cell: (s) => s.value ?? "(none)" },
          { label: "Revenue", class: "num", cell: (s) => fmt.money(s.total) },
          { label: "Paying people", class: "num", cell: (s) => fmt.count(s.payingPeople) },
          { label: "Per paying person", class: "num", cell: (s) => fmt.money(s.averageRevenuePerPayingPerson) },
        ], r.bySource, { id: "revenue-source-table" })),
        card("Top people", table([
          { label: "Person", cell: (p) => personLink(p.person) },
          { label: "Revenue", class: "num", cell: (p) => fmt.money(p.revenue) },
        ], r.topPeople.nodes, { id: "revenue-top-table" }))));
    chart(series, {
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt.money(v) },
      legend: { top: 0 },
      grid: { left: 64, right: 16, top: 36, bottom: 28 },
      xAxis: { type: "category", data: r.series.map((p) => fmt.date(p.start, vars.interval)) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => fmt.count(v) } },
      series: [
        { name: "Net revenue", type: "bar", data: r.series.map((p) => Number(p.total)) },
        { name: "Refunds", type: "bar", data: r.series.map((p) => Number(p.refunds)), itemStyle: { color: "#e8a08f" } },
      ],
    });
    if (r.bySource.length) chart(sources, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => fmt.money(v) },
      grid: { left: 96, right: 24, top: 8, bottom: 24 },
      xAxis: { type: "value", axisLabel: { formatter: (v) => fmt.count(v) } },
      yAxis: { type: "category", data: r.bySource.map((s) => s.value ?? "(none)"), inverse: true },
      series: [{ type: "bar", name: "Revenue", data: r.bySource.map((s) => Number(s.total)) }],
    }, { height: Math.max(160, 32 * r.bySource.length + 40) });
  },
};
