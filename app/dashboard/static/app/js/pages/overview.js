// Overview: the most frequent events over the last 30 days (one `trends` report;
// paging through `events` only on a server without trends),
// people and revenue totals, and a live counter (`liveEvents`).
import { gql, subscribe } from "../api.js";
import { chart } from "../charts.js";
import * as fmt from "../format.js";
import { card, dayRange, empty, failure, h, loading, stat } from "../ui.js";

const TOP = 5;
const PAGE = 1000;
const MAX_PAGES = 50;
const EVENTS = `query OverviewEvents($where: EventFilter, $after: String) {
  events(where: $where, first: ${PAGE}, after: $after) { nodes { name timestamp } pageInfo { hasNextPage endCursor } }
}`;
const TOTALS = `query OverviewTotals($from: DateTime!, $to: DateTime!) {
  eventNames(first: ${TOP})
  people(first: 0) { totalCount }
  revenueReport(input: { from: $from, to: $to, interval: MONTH }) { total gross refunds payingPeople }
}`;

export default {
  id: "overview",
  title: "Overview",
  nav: true,
  async render(root, ctx) {
    const range = dayRange(30);
    const totals = h("div", { class: "stats", id: "overview-totals" });
    const chartBox = h("div", { id: "overview-chart" });
    const tableBox = h("div", { id: "overview-events" });
    const liveBox = h("div", { class: "live-counter", id: "overview-live", "aria-live": "polite" });
    root.append(h("h2", {}, "Overview"),
      h("p", { class: "muted" }, `Last 30 days (UTC): ${fmt.date(range.from)} – ${fmt.date(new Date(Date.parse(range.to) - 1).toISOString())}`),
      totals, card("Live", liveBox), card("Most frequent events, last 30 days", chartBox, tableBox));
    startLive(liveBox, ctx);
    loading(totals);
    loading(chartBox);
    const data = await gql(TOTALS, range);
    if (!ctx.current()) return;
    const r = data.revenueReport;
    totals.dataset.variables = JSON.stringify(range);
    totals.replaceChildren(
      stat("People", fmt.count(data.people.totalCount), { id: "stat-people", title: `${data.people.totalCount.toLocaleString("en-US")} people`, dataset: { value: data.people.totalCount } }),
      stat("Revenue, 30 days", fmt.money(r.total), { id: "stat-revenue", dataset: { value: r.total } }),
      stat("Refunds, 30 days", fmt.money(r.refunds), { id: "stat-refunds", dataset: { value: r.refunds } }),
      stat("Paying people, 30 days", fmt.count(r.payingPeople), { id: "stat-paying", dataset: { value: r.payingPeople } }),
    );
    const names = data.eventNames;
    if (!names.length) {
      empty(chartBox, "No events yet. Send some with the tracker or run `whodid demo`, then reload.");
      return;
    }
    await eventChart(chartBox, tableBox, names, range, ctx);
  },
};

async function eventChart(chartBox, tableBox, names, range, ctx) {
  const days = [];
  for (let t = Date.parse(range.from); t < Date.parse(range.to); t += 86400000) days.push(new Date(t).toISOString().slice(0, 10));
  const counts = Object.fromEntries(names.map((n) => [n, Object.fromEntries(days.map((d) => [d, 0]))]));
  let after = null, pages = 0, partial = false;
  try {
    if (ctx.caps.trends) {
      // One report instead of paging through the events, when the server has trends.
      const data = await gql(`query OverviewTrends($input: TrendsInput!) { trends(input: $input) { series { event points { start value } } } }`,
        { input: { series: names.map((event) => ({ event, math: "TOTAL" })), from: range.from, to: range.to, interval: "DAY" } });
      if (!ctx.current()) return;
      for (const s of data.trends.series) for (const p of s.points) {
        const day = new Date(p.start).toISOString().slice(0, 10);
        if (counts[s.event] && day in counts[s.event]) counts[s.event][day] += p.value || 0;
      }
    } else do {
      const data = await gql(EVENTS, { where: { names, from: range.from, to: range.to }, after });
      if (!ctx.current()) return;
      for (const e of data.events.nodes) {
        const day = e.timestamp.slice(0, 10);
        if (counts[e.name] && day in counts[e.name]) counts[e.name][day]++;
        else if (counts[e.name]) counts[e.name][new Date(e.timestamp).toISOString().slice(0, 10)]++;
      }
      after = data.events.pageInfo.hasNextPage ? data.events.pageInfo.endCursor : null;
      if (++pages >= MAX_PAGES && after) { partial = true; break; }
    } while (after);
  } catch (error) {
    failure(chartBox, error);
    return;
  }
  const totals = names.map((n) => Object.values(counts[n]).reduce((a, b) => a + b, 0));
  if (totals.every((t) => t === 0)) {
    empty(chartBox, "No events in the last 30 days.");
    return;
  }
  chartBox.replaceChildren();
  chart(chartBox, {
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", top: 0 },
    grid: { left: 48, right: 16, top: 36, bottom: 28 },
    xAxis: { type: "category", data: days.map((d) => fmt.date(d)) },
    yAxis: { type: "value", minInterval: 1 },
    series: names.map((n) => ({ name: n, type: "line", showSymbol: false, data: days.map((d) => counts[n][d]) })),
  });
  tableBox.replaceChildren(h("table", { class: "compact", id: "overview-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Event"), h("th", { scope: "col", class: "num" }, "Events, 30 days"))),
    h("tbody", {}, names.map((n, i) => h("tr", { dataset: { name: n, value: totals[i] } },
      h("td", {}, n), h("td", { class: "num" }, fmt.count(totals[i])))))),
    partial ? h("p", { class: "muted" }, `Counted the first ${PAGE * MAX_PAGES} events only.`) : "");
}

function startLive(box, ctx) {
  let n = 0;
  const counter = h("span", { class: "live-count", id: "live-count", dataset: { value: 0 } }, "0");
  const status = h("span", { class: "pill", id: "live-status" }, "connecting…");
  const last = h("span", { class: "muted", id: "live-last" }, "");
  box.replaceChildren(h("div", {}, counter, " events since this page opened ", status), last);
  const stop = subscribe("subscription OverviewLive { liveEvents { name identity timestamp } }", {}, {
    onNext: (data) => {
      n++;
      counter.textContent = fmt.count(n);
      counter.dataset.value = n;
      const e = data.liveEvents;
      last.textContent = `Latest: ${e.name} by ${e.identity}`;
    },
    onState: (state) => {
      status.textContent = state;
      status.className = `pill ${state === "live" ? "live" : state === "connecting" ? "" : "bad"}`;
    },
  });
  const check = setInterval(() => { if (!ctx.current()) { stop(); clearInterval(check); } }, 500);
  window.addEventListener("hashchange", () => { stop(); clearInterval(check); }, { once: true });
}
