// The dashboard shell: sign-in, navigation, capabilities, and the router that
// keeps every page's state in the URL fragment (#/page?param=value; never the key).
import { ApiError, clearKey, getKey, gql, setKey, whenCost, whenKeyRefused } from "./api.js";
import { disposeAll } from "./charts.js";
import { failure, h, loading } from "./ui.js";
import overview from "./pages/overview.js";
import trends from "./pages/trends.js";
import funnel from "./pages/funnel.js";
import retention from "./pages/retention.js";
import revenue from "./pages/revenue.js";
import paths from "./pages/paths.js";
import lifecycle from "./pages/lifecycle.js";
import stickiness from "./pages/stickiness.js";
import people from "./pages/people.js";
import person from "./pages/person.js";

// Every page is one module: {id, title, nav, requires?(caps), render(root, ctx)}.
// A page whose report the server does not have yet stays out of the navigation.
const PAGES = [overview, trends, funnel, retention, lifecycle, stickiness, paths, revenue, people, person];
const LIVE = { id: "live", title: "Live", href: "/live" };

// One request at sign-in: is this a read key, and which reports does this server have?
const CAPABILITIES = `query DashboardCapabilities {
  eventNames(first: 1)
  trends: __type(name: "TrendsReport") { name }
  paths: __type(name: "PathsReport") { name }
  lifecycle: __type(name: "LifecycleReport") { name }
  stickiness: __type(name: "StickinessReport") { name }
  funnelInput: __type(name: "FunnelInput") { inputFields { name } }
  funnelReport: __type(name: "FunnelReport") { fields { name } }
  cohortInput: __type(name: "CohortInput") { inputFields { name } }
  revenueInput: __type(name: "RevenueReportInput") { inputFields { name } }
  trendsInput: __type(name: "TrendsInput") { inputFields { name } }
  pathsInput: __type(name: "PathsInput") { inputFields { name } }
  lifecycleInput: __type(name: "LifecycleInput") { inputFields { name } }
  stickinessInput: __type(name: "StickinessInput") { inputFields { name } }
}`;

const $ = (id) => document.getElementById(id);
let caps = null;
let renderToken = 0;

function capabilities(data) {
  const names = (t, key) => new Set(((t && t[key]) || []).map((f) => f.name));
  const fi = names(data.funnelInput, "inputFields");
  const fr = names(data.funnelReport, "fields");
  const ci = names(data.cohortInput, "inputFields");
  return {
    trends: !!data.trends,
    paths: !!data.paths,
    lifecycle: !!data.lifecycle,
    stickiness: !!data.stickiness,
    funnelExclusions: fi.has("exclusions"),
    funnelTrend: fr.has("trend"),
    retentionModes: ci.has("mode") && ci.has("cumulative"),
    // The report inputs that take the people filter.
    population: new Set([["FunnelInput", fi], ["CohortInput", ci], ["RevenueReportInput", names(data.revenueInput, "inputFields")],
      ["TrendsInput", names(data.trendsInput, "inputFields")], ["PathsInput", names(data.pathsInput, "inputFields")],
      ["LifecycleInput", names(data.lifecycleInput, "inputFields")], ["StickinessInput", names(data.stickinessInput, "inputFields")]]
      .filter(([, fields]) => fields.has("people")).map(([type]) => type)),
  };
}

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [id, query = ""] = raw.split("?");
  return { id: id || "overview", params: Object.fromEntries(new URLSearchParams(query)) };
}

export function hashFor(id, params = {}) {
  const clean = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  const query = new URLSearchParams(clean).toString();
  return `#/${id}${query ? `?${query}` : ""}`;
}

function go(id, params) {
  const target = hashFor(id, params);
  if (location.hash === target) route(); else location.hash = target;
}

// The price of this page's last answer (extensions.cost), discreetly in the footer
// and as data-requested / data-max / data-operation for the tests.
function showCost(cost) {
  const footer = $("cost");
  if (!cost) { footer.hidden = true; footer.textContent = ""; for (const k of ["requested", "max", "operation"]) delete footer.dataset[k]; return; }
  footer.dataset.requested = String(cost.requested);
  footer.dataset.max = String(cost.max);
  footer.dataset.operation = cost.operation || "";
  footer.textContent = `Last query cost ${cost.requested.toLocaleString("en-US")} of ${Number(cost.max).toLocaleString("en-US")}`;
  footer.hidden = !getKey();
}

function showSignIn(message = "") {
  disposeAll();
  showCost(null);
  caps = null;
  $("signin").hidden = false;
  $("page").replaceChildren();
  $("nav").hidden = true;
  $("menu").hidden = true;
  $("signout").hidden = true;
  $("signin-message").textContent = message;
  $("key").value = "";
  $("key").focus();
}

function buildNav(current) {
  const nav = $("nav");
  const items = PAGES.filter((p) => p.nav && (!p.requires || p.requires(caps)));
  nav.replaceChildren(h("ul", {}, [...items.map((p) => h("li", {}, h("a", {
    href: `#/${p.id}`, dataset: { page: p.id },
    "aria-current": p.id === current || (p.id === "people" && current === "person") ? "page" : null,
  }, p.title))), h("li", {}, h("a", { href: LIVE.href, dataset: { page: LIVE.id } }, LIVE.title))]));
  nav.hidden = false;
  $("menu").hidden = false;
  $("signout").hidden = false;
}

async function route() {
  if (!getKey()) { showSignIn(); return; }
  const token = ++renderToken;
  $("signin").hidden = true;
  const root = $("page");
  if (!caps) {
    loading(root, "Connecting…");
    try {
      caps = capabilities(await gql(CAPABILITIES));
    } catch (error) {
      if (token !== renderToken) return;
      if (error instanceof ApiError && error.kind === "auth") { clearKey(); showSignIn(error.message); return; }
      failure(root, error, route);
      return;
    }
    if (token !== renderToken) return;
  }
  const { id, params } = parseHash();
  let page = PAGES.find((p) => p.id === id);
  if (!page || (page.requires && !page.requires(caps))) page = overview;
  buildNav(page.id);
  $("nav").classList.remove("open");
  $("menu").setAttribute("aria-expanded", "false");
  disposeAll();
  showCost(null);
  document.title = `whodid · ${page.title}`;
  const section = h("div", { class: "page", dataset: { page: page.id } });
  root.replaceChildren(section);
  const ctx = { page: page.id, params, caps, go, current: () => token === renderToken };
  // Focus follows navigation (screen readers hear the new page; the old focus is gone).
  if (document.activeElement === document.body || !document.contains(document.activeElement) || $("nav").contains(document.activeElement)) {
    $("view").focus({ preventScroll: true });
  }
  try {
    await page.render(section, ctx);
  } catch (error) {
    if (token !== renderToken || (error && error.name === "AbortError")) return;
    if (error instanceof ApiError && error.kind === "auth") return;
    failure(section, error, route);
  }
}

whenCost(showCost);
whenKeyRefused((error) => { clearKey(); showSignIn(error.message); });

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const key = $("key").value.trim();
  $("key").value = "";
  if (!key) return;
  if (key.startsWith("wk_")) {
    showSignIn("That is a write key (wk_…): it can only send events. Sign in with the project's read key (rk_…).");
    return;
  }
  setKey(key);
  caps = null;
  $("signin-message").textContent = "";
  await route();
});

$("signout").addEventListener("click", () => {
  clearKey();
  renderToken++;
  showSignIn("Signed out. The key was removed from this tab.");
});

$("menu").addEventListener("click", () => {
  const open = $("nav").classList.toggle("open");
  $("menu").setAttribute("aria-expanded", String(open));
});

window.addEventListener("hashchange", route);
route();
