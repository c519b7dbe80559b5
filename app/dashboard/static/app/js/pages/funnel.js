// Funnel: steps, window, segments; bars with drop-off, conversion, each segment's
// significance against the baseline, the time-to-convert histogram, and the people
// behind every bar. Options that the server may not have yet (exclusions, the
// conversion trend) are extension modules, shown only when the schema has them.
import { gql, propertyKeys } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { RANGES, card, datalist, dayRange, empty, failure, field, h, input, loading, personLink, select, stateForm, table } from "../ui.js";
import exclusions from "./funnel-exclusions.js";
import trend from "./funnel-trend.js";
import { population } from "./population.js";

const EXTENSIONS = [exclusions, trend, population("FunnelInput")];
const DEFAULT_STEPS = ["Visited Site", "Viewed Pricing Page", "Signed Up", "Billed"];
const WINDOWS = [["none", "No window"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"], ["1209600", "14 days"], ["2592000", "30 days"]];
const STEP_FIELDS = `index event people droppedOff conversionFromPrevious conversionFromStart
  timeFromPrevious { count medianSeconds meanSeconds p90Seconds histogram { upToSeconds people } }`;
const PEOPLE = `query FunnelPeople($input: FunnelInput!, $status: StepStatus!, $after: String) {
  funnel(input: $input) { steps { index peopleList(status: $status, first: 50, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id identities lastSeen lifetimeRevenue } } } }
}`;

export function funnelState(params, names) {
  let steps = (params.steps || "").split("\n").map((s) => s.trim()).filter(Boolean);
  if (!steps.length) {
    steps = DEFAULT_STEPS.every((s) => names.includes(s)) ? DEFAULT_STEPS : names.slice(0, 2);
  }
  const segmentBy = params.segment && params.segmentProperty
    ? { [params.segment === "first" ? "firstStepProperty" : "personProperty"]: params.segmentProperty,
        ...(params.baseline ? { baseline: params.baseline } : {}) }
    : null;
  return { steps, days: params.days || "90", window: params.window ?? "1209600", segmentBy };
}

export function funnelInput(state, params, caps) {
  const range = dayRange(state.days);
  const input = {
    steps: state.steps.map((event) => ({ event })),
    from: range.from, to: range.to,
    conversionWindowSeconds: state.window && state.window !== "none" ? Number(state.window) : null,
    segmentBy: state.segmentBy,
  };
  for (const ext of EXTENSIONS) if (ext.requires(caps)) Object.assign(input, ext.input(params));
  return input;
}

export default {
  id: "funnel",
  title: "Funnel",
  nav: true,
  async render(root, ctx) {
    const { params, caps } = ctx;
    const [names, keys] = await Promise.all([gql("query Names { eventNames(first: 200) }").then((d) => d.eventNames), propertyKeys()]);
    if (!ctx.current()) return;
    const state = funnelState(params, names);
    const extensions = EXTENSIONS.filter((e) => e.requires(caps));
    const form = stateForm(ctx, [
      datalist("funnel-names", names),
      field("Steps, one event per line", h("textarea", { name: "steps", rows: Math.max(3, state.steps.length), id: "funnel-steps" }, state.steps.join("\n"))),
      field("Conversion window", select("window", WINDOWS, state.window)),
      field("Time range", select("days", RANGES, state.days)),
      field("Segment by", select("segment", [["", "No segments"], ["person", "Person property"], ["first", "First step's event property"]], params.segment || "")),
      field("Segment property", input("segmentProperty", params.segmentProperty, { list: "funnel-props", placeholder: "e.g. Pricing Page Experiment" })),
      field("Baseline segment", input("baseline", params.baseline, { placeholder: "largest segment" })),
      ...extensions.map((e) => e.fields(params, names)),
    ], { submit: "Run funnel" });
    form.append(datalist("funnel-props", keys), datalist("population-props", keys));
    const out = h("div", { id: "funnel-result" });
    root.append(h("h2", {}, "Funnel"), form, out);
    if (state.steps.length < 2) { empty(out, "Choose at least two steps."); return; }
    const vars = funnelInput(state, params, caps);
    loading(out, "Computing the funnel…");
    const extraSelection = extensions.map((e) => e.selection(params)).join("\n");
    let report;
    try {
      report = (await gql(`query Funnel($input: FunnelInput!) { funnel(input: $input) {
        computedAt cached steps { ${STEP_FIELDS} }
        segments { value conversionRate steps { index people } comparison { baseline lift zScore pValue probabilityToBeatBaseline significant } }
        ${extraSelection} } }`, { input: vars })).funnel;
    } catch (error) {
      if (ctx.current()) failure(out, error);
      return;
    }
    if (!ctx.current()) return;
    out.dataset.variables = JSON.stringify({ input: vars });
    if (!report.steps.length || report.steps[0].people === 0) {
      empty(out, "Nobody entered this funnel in this time range.");
      return;
    }
    renderReport(out, report, vars, params, ctx, extensions);
  },
};

function renderReport(out, report, input, params, ctx, extensions) {
  const steps = report.steps;
  const last = steps[steps.length - 1];
  const summary = h("div", { class: "stats" },
    h("div", { class: "stat", id: "funnel-entered", dataset: { value: steps[0].people } }, h("div", { class: "stat-value" }, fmt.count(steps[0].people)), h("div", { class: "stat-label" }, "entered")),
    h("div", { class: "stat", id: "funnel-converted", dataset: { value: last.people } }, h("div", { class: "stat-value" }, fmt.count(last.people)), h("div", { class: "stat-label" }, "converted")),
    h("div", { class: "stat", id: "funnel-rate", dataset: { value: last.conversionFromStart } }, h("div", { class: "stat-value" }, fmt.percent(last.conversionFromStart)), h("div", { class: "stat-label" }, "conversion")));
  const peopleBox = h("div", { id: "funnel-people", "aria-live": "polite" });
  const showPeople = (index, status) => listPeople(peopleBox, input, steps[index], status);
  const bars = h("div", { id: "funnel-chart" });
  const stepTable = table([
    { label: "Step", cell: (s) => `${s.index + 1}. ${s.event}` },
    { label: "People", class: "num", cell: (s) => h("button", { type: "button", class: "link", dataset: { step: s.index, status: "REACHED" }, "aria-label": `People who reached step ${s.index + 1}`, onclick: () => showPeople(s.index, "REACHED") }, fmt.count(s.people)) },
    { label: "Dropped", class: "num", cell: (s) => s.index === 0 ? "–" : h("button", { type: "button", class: "link", dataset: { step: s.index, status: "DROPPED" }, "aria-label": `People who dropped before step ${s.index + 1}`, onclick: () => showPeople(s.index, "DROPPED") }, fmt.count(s.droppedOff)) },
    { label: "From previous", class: "num", cell: (s) => fmt.percent(s.conversionFromPrevious) },
    { label: "From start", class: "num", cell: (s) => fmt.percent(s.conversionFromStart) },
    { label: "Median time", class: "num", cell: (s) => s.timeFromPrevious ? fmt.duration(s.timeFromPrevious.medianSeconds) : "–" },
  ], steps, { id: "funnel-steps-table" });
  out.replaceChildren(summary, card("Steps", bars, stepTable, h("p", { class: "muted" }, "Click a bar or a number to list the people who reached or dropped.")), peopleBox);
  const narrow = bars.clientWidth < 520;
  const c = chart(bars, {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 48, right: 16, top: 36, bottom: narrow ? 72 : 48 },
    xAxis: { type: "category", data: steps.map((s) => `${s.index + 1}. ${s.event}`), axisLabel: { interval: 0, overflow: "truncate", width: narrow ? 80 : 110, rotate: narrow ? 30 : 0 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "Reached", type: "bar", stack: "f", data: steps.map((s) => s.people), label: { show: true, position: "inside", fontSize: narrow ? 9 : 12, formatter: (p) => (p.value >= steps[0].people * 0.08 ? fmt.percent(steps[p.dataIndex].conversionFromStart) : "") } },
      { name: "Dropped", type: "bar", stack: "f", data: steps.map((s) => s.droppedOff), itemStyle: { color: "#f3c5bd" } },
    ],
  });
  c.on("click", (p) => showPeople(p.dataIndex, p.seriesName === "Dropped" ? "DROPPED" : "REACHED"));

  if (report.segments.length > 1) out.append(segmentsCard(report.segments));
  out.append(histogramCard(steps, params));
  for (const ext of extensions) { const node = ext.render(report, params); if (node) out.append(node); }
}

function segmentsCard(segments) {
  const rows = segments.map((s) => ({ ...s, entered: s.steps[0].people, converted: s.steps[s.steps.length - 1].people }));
  const t = table([
    { label: "Segment", cell: (s) => h("span", {}, s.value ?? "(other / none)", s.comparison ? "" : h("span", { class: "pill" }, "baseline")) },
    { label: "Entered", class: "num", cell: (s) => fmt.count(s.entered) },
    { label: "Converted", class: "num", cell: (s) => fmt.count(s.converted) },
    { label: "Conversion", class: "num", cell: (s) => fmt.percent(s.conversionRate) },
    { label: "Lift", class: "num", cell: (s) => s.comparison ? fmt.signedPercent(s.comparison.lift) : "–" },
    { label: "p-value", class: "num", cell: (s) => s.comparison ? fmt.pValue(s.comparison.pValue) : "–" },
    { label: "P(beat baseline)", class: "num", cell: (s) => s.comparison ? fmt.percent(s.comparison.probabilityToBeatBaseline) : "–" },
    { label: "Significant", cell: (s) => s.comparison ? (s.comparison.significant ? h("span", { class: "pill live" }, "yes") : h("span", { class: "pill" }, "no")) : "–" },
  ], rows, { id: "funnel-segments" });
  t.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.segment = rows[i].value ?? ""; });
  const bars = h("div", { id: "funnel-segments-chart" });
  queueMicrotask(() => chart(bars, {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => fmt.percent(v) },
    grid: { left: 120, right: 64, top: 8, bottom: 24 },
    xAxis: { type: "value", axisLabel: { formatter: (v) => fmt.percent(v) } },
    yAxis: { type: "category", inverse: true, data: rows.map((s) => `${s.value ?? "(other / none)"}${s.comparison ? "" : " ★"}`) },
    series: [{ type: "bar", name: "Conversion", data: rows.map((s) => ({
      value: s.conversionRate,
      itemStyle: { color: !s.comparison ? "#5c6b8a" : s.comparison.significant ? (s.comparison.lift >= 0 ? "#1e8e3e" : "#c0392b") : "#9db7f5" },
    })), label: { show: true, position: "right", formatter: (p) => fmt.percent(p.value) } }],
  }, { height: Math.max(120, 36 * rows.length + 40) }));
  return card("Segments against the baseline", bars, t,
    h("p", { class: "muted" }, "★ baseline; green or red: significantly better or worse. Lift: relative change of the conversion against the baseline. p-value: two-sided two-proportion z-test. P(beat baseline): Bayesian, Beta(1,1) priors."));
}

function histogramCard(steps, params) {
  const withTimes = steps.filter((s) => s.timeFromPrevious && s.timeFromPrevious.count);
  const box = h("div", { id: "funnel-histogram" });
  if (!withTimes.length) { empty(box, "Nobody converted between steps: no times to show."); return card("Time to convert", box); }
  const chooser = select("hist", withTimes.map((s) => [String(s.index), `${s.index}. ${steps[s.index - 1].event} → ${s.index + 1}. ${s.event}`]), String(withTimes[withTimes.length - 1].index));
  const draw = () => {
    const s = steps[Number(chooser.value)];
    const t = s.timeFromPrevious;
    let lower = 0;
    const labels = t.histogram.map((b) => { const text = b.upToSeconds === null ? `> ${fmt.duration(lower)}` : `≤ ${fmt.duration(b.upToSeconds)}`; lower = b.upToSeconds ?? lower; return text; });
    const summary = h("p", { class: "muted" }, `${fmt.count(t.count)} people · median ${fmt.duration(t.medianSeconds)} · mean ${fmt.duration(t.meanSeconds)} · 90th percentile ${fmt.duration(t.p90Seconds)}`);
    const area = h("div");
    box.replaceChildren(summary, area);
    chart(area, {
      tooltip: { trigger: "axis" }, grid: { left: 48, right: 16, top: 32, bottom: 40 },
      xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 8 || box.clientWidth < 520 ? 40 : 0 } },
      yAxis: { type: "value", minInterval: 1, name: "people" },
      series: [{ type: "bar", name: "People", data: t.histogram.map((b) => b.people) }],
    }, { height: 260 });
  };
  chooser.addEventListener("change", draw);
  const c = card("Time to convert", field("Between steps", chooser), box);
  queueMicrotask(draw);
  return c;
}

async function listPeople(box, input, step, status, after = null, list = null) {
  const title = `${status === "DROPPED" ? "Dropped before" : "Reached"} step ${step.index + 1}: ${step.event}`;
  if (!after) { box.replaceChildren(card(title, h("div", { id: "funnel-people-list" }))); loading(box.querySelector("#funnel-people-list")); }
  const target = box.querySelector("#funnel-people-list");
  try {
    const data = await gql(PEOPLE, { input, status, after });
    const conn = data.funnel.steps[step.index].peopleList;
    if (!list) {
      list = h("ul", { class: "people-list", dataset: { total: conn.totalCount, status, step: step.index } });
      target.replaceChildren(h("p", { class: "muted" }, `${fmt.count(conn.totalCount)} people`), list);
    }
    target.querySelector("button.more")?.remove();
    for (const p of conn.nodes) list.append(h("li", {}, personLink(p), h("span", { class: "muted" }, ` · last seen ${fmt.dateTime(p.lastSeen)}`)));
    if (!conn.nodes.length && !after) empty(target, "Nobody.");
    if (conn.pageInfo.hasNextPage) target.append(h("button", { type: "button", class: "more", onclick: () => listPeople(box, input, step, status, conn.pageInfo.endCursor, list) }, "More people"));
    box.scrollIntoView({ block: "nearest" });
  } catch (error) {
    failure(target, error);
  }
}
