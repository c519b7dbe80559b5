// Retention: the cohort triangle as a heatmap and a table; incomplete cells (their
// period has not ended) are drawn hatched and labelled. Modes (first-time /
// recurring, cumulative) come from retention-modes.js when the server has them.
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { PERIODS, card, datalist, empty, failure, field, h, input, loading, select, stateForm } from "../ui.js";
import { population } from "./population.js";
import modes from "./retention-modes.js";

const EXTENSIONS = [modes, population("CohortInput")];
const DAYS = { HOUR: 1 / 24, DAY: 1, WEEK: 7, MONTH: 30.44 };

export function cohortInput(params, names, caps) {
  const cohortEvent = params.cohortEvent || (names.includes("Signed Up") ? "Signed Up" : names[0]);
  const returnEvent = params.returnEvent || (names.includes("Logged In") ? "Logged In" : names[0]);
  const cohortPeriod = PERIODS.some(([p]) => p === params.cohortPeriod) ? params.cohortPeriod : "WEEK";
  const bucket = PERIODS.some(([p]) => p === params.bucket) ? params.bucket : cohortPeriod;
  const buckets = Math.min(52, Math.max(1, Number(params.buckets) || 12));
  const cohorts = Math.min(104, Math.max(1, Number(params.cohorts) || 12));
  // The last `cohorts` whole periods up to today (UTC), today's included.
  const to = new Date(); to.setUTCHours(0, 0, 0, 0); to.setUTCDate(to.getUTCDate() + 1);
  const from = new Date(to.getTime() - Math.round(cohorts * DAYS[cohortPeriod] * 86400000));
  const input = { cohortEvent, returnEvent, from: from.toISOString(), to: to.toISOString(), cohortPeriod, bucket, buckets };
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(input, ext.input(params));
  return input;
}

export default {
  id: "retention",
  title: "Retention",
  nav: true,
  async render(root, ctx) {
    const { params, caps } = ctx;
    const names = (await gql("query Names { eventNames(first: 200) }")).eventNames;
    if (!ctx.current()) return;
    if (!names.length) { root.append(h("h2", {}, "Retention")); const b = h("div"); root.append(b); empty(b, "No events yet."); return; }
    const vars = cohortInput(params, names, caps);
    const extensions = EXTENSIONS.filter((e) => e.requires(caps));
    const form = stateForm(ctx, [
      datalist("retention-names", names),
      field("Cohort event", input("cohortEvent", vars.cohortEvent, { list: "retention-names" })),
      field("Return event", input("returnEvent", vars.returnEvent, { list: "retention-names" })),
      field("Cohorts by", select("cohortPeriod", PERIODS, vars.cohortPeriod)),
      field("Number of cohorts", input("cohorts", params.cohorts || "12", { type: "number", min: 1, max: 104 })),
      field("Return bucket", select("bucket", PERIODS, vars.bucket)),
      field("Buckets", input("buckets", String(vars.buckets), { type: "number", min: 1, max: 52 })),
      ...extensions.map((e) => e.fields(params)),
    ], { submit: "Show retention" });
    if (extensions.length) form.append(datalist("population-props", await propertyKeys()));
    const out = h("div", { id: "retention-result" });
    root.append(h("h2", {}, "Retention"), form, out);
    loading(out, "Computing cohorts…");
    let report;
    try {
      report = (await gql(`query Retention($input: CohortInput!) { cohort(input: $input) {
        computedAt rows { start size cells { index people rate complete } } } }`, { input: vars })).cohort;
    } catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    const rows = report.rows.filter((r) => r.size > 0);
    if (!rows.length) { empty(out, `Nobody did "${vars.cohortEvent}" for the first time in this range.`); return; }
    renderTriangle(out, rows, vars);
  },
};

function renderTriangle(out, rows, vars) {
  const n = Math.max(...rows.map((r) => r.cells.length));
  const heat = h("div", { id: "retention-heatmap" });
  const label = (r) => fmt.date(r.start, vars.cohortPeriod);
  const tbl = h("table", { class: "triangle", id: "retention-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Cohort"), h("th", { scope: "col", class: "num" }, "People"),
      Array.from({ length: n }, (_, i) => h("th", { scope: "col", class: "num" }, `${vars.bucket[0]}${i}`)))),
    h("tbody", {}, rows.map((r) => h("tr", { dataset: { start: r.start, size: r.size } },
      h("th", { scope: "row" }, label(r)), h("td", { class: "num" }, fmt.count(r.size)),
      Array.from({ length: n }, (_, i) => {
        const c = r.cells[i];
        if (!c) return h("td", { class: "na" }, "");
        return h("td", {
          class: `num cell${c.complete ? "" : " incomplete"}`, style: `--rate:${c.rate}`,
          dataset: { index: c.index, people: c.people, rate: c.rate, complete: c.complete },
          title: `${fmt.count(c.people)} people${c.complete ? "" : " so far (this period has not ended)"}`,
        }, fmt.percent(c.rate), c.complete ? "" : h("span", { class: "sr-only" }, " (incomplete)"));
      })))));
  out.replaceChildren(card("Cohort triangle", heat, h("p", { class: "muted legend" },
    h("span", { class: "swatch incomplete" }), " hatched: incomplete, the period has not ended yet"), h("div", { class: "table-wrap" }, tbl)));
  const width = heat.clientWidth || 800;
  const labelled = (width - 96) / n >= 42; // room for "12.3 %" in a cell
  const axisLabel = width < 560 && vars.cohortPeriod !== "MONTH" && vars.cohortPeriod !== "HOUR"
    ? (r) => new Date(r.start).toLocaleDateString("en-US", { timeZone: "UTC", month: "short", day: "numeric" }) : label;
  const complete = [], partial = [];
  rows.forEach((r, y) => r.cells.forEach((c) => (c.complete ? complete : partial).push([c.index, y, c.rate, c.people])));
  chart(heat, {
    tooltip: { formatter: (p) => `${label(rows[p.value[1]])}, ${vars.bucket.toLowerCase()} ${p.value[0]}: ${fmt.percent(p.value[2])} (${fmt.count(p.value[3])} people)${p.seriesName === "Incomplete" ? ", incomplete" : ""}` },
    grid: { left: width < 560 ? 56 : 96, right: 16, top: 8, bottom: 56 },
    xAxis: { type: "category", data: Array.from({ length: n }, (_, i) => `${vars.bucket[0]}${i}`), splitArea: { show: true } },
    yAxis: { type: "category", data: rows.map(axisLabel), inverse: true },
    visualMap: { min: 0, max: 1, dimension: 2, calculable: false, orient: "horizontal", left: "center", bottom: 0, seriesIndex: 0, itemHeight: 120,
      inRange: { color: ["#eef3fd", "#2f6fed"] }, formatter: (v) => fmt.percent(v) },
    series: [
      { name: "Complete", type: "heatmap", data: complete, label: { show: labelled, formatter: (p) => fmt.percent(p.value[2]), fontSize: 10 } },
      { name: "Incomplete", type: "heatmap", data: partial,
        itemStyle: { color: "#f1f2f5", borderColor: "#c9ced8", borderType: "dashed", borderWidth: 1, decal: { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [2, 4], rotation: -Math.PI / 4, color: "rgba(0,0,0,0.08)" } },
        label: { show: labelled, formatter: (p) => `${fmt.percent(p.value[2])}…`, fontSize: 10, color: "#6b7385" } },
    ],
  }, { height: Math.max(240, 28 * rows.length + 80) });
}
