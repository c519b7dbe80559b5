// A person: identities, current properties (each with its history) and the event timeline.
import { gql } from "../api.js";
import * as fmt from "../format.js";
import { card, empty, failure, h, loading, stat, table } from "../ui.js";

const PERSON = `query Person($id: ID, $identity: String) { person(id: $id, identity: $identity) {
  id identities identified properties firstSeen lastSeen lifetimeRevenue } }`;
const EVENTS = `query PersonEvents($id: ID, $after: String) { person(id: $id) {
  events(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id name identity timestamp revenue properties } } } }`;
const HISTORY = `query History($id: ID, $key: String!) { person(id: $id) { propertyHistory(key: $key) { value at } } }`;

export default {
  id: "person",
  title: "Person",
  nav: false,
  async render(root, ctx) {
    const { params } = ctx;
    const head = h("h2", {}, "Person");
    const out = h("div", { id: "person-result" });
    root.append(h("p", {}, h("a", { href: "#/people" }, "← People")), head, out);
    if (!params.id && !params.identity) { empty(out, "No person chosen."); return; }
    loading(out);
    let p;
    try { p = (await gql(PERSON, { id: params.id || null, identity: params.identity || null })).person; }
    catch (error) { if (ctx.current()) failure(out, error); return; }
    if (!ctx.current()) return;
    if (!p) { empty(out, "No such person in this project."); return; }
    head.textContent = p.identities.find((i) => i.includes("@")) || p.identities[0] || p.id;
    const props = Object.entries(p.properties || {}).sort(([a], [b]) => a.localeCompare(b));
    const timeline = h("ol", { class: "timeline", id: "person-timeline" });
    out.replaceChildren(
      h("div", { class: "stats" },
        stat("Lifetime revenue", fmt.money(p.lifetimeRevenue), { id: "person-revenue", dataset: { value: p.lifetimeRevenue } }),
        stat("First seen", fmt.dateTime(p.firstSeen), { class: "stat text" }), stat("Last seen", fmt.dateTime(p.lastSeen), { class: "stat text" }),
        stat("Status", p.identified ? "identified" : "anonymous", { class: "stat text" })),
      h("div", { class: "grid2" },
        card("Identities", h("ul", { id: "person-identities", class: "plain" }, p.identities.map((i) => h("li", {}, h("code", {}, i)))),
          h("p", { class: "muted" }, "Person id ", h("code", {}, p.id))),
        card("Properties", props.length ? table([
          { label: "Property", cell: ([k]) => k },
          { label: "Current value", cell: ([, v]) => fmt.value(v) },
          { label: "History", cell: ([k]) => historyButton(p.id, k) },
        ], props, { id: "person-properties" }) : h("p", { class: "muted" }, "No properties."))),
      card("Events, newest first", timeline));
    await more(timeline, p.id, null, ctx);
  },
};

function historyButton(id, key) {
  const button = h("button", { type: "button", class: "link", "aria-expanded": "false", "aria-label": `History of ${key}` }, "show");
  button.addEventListener("click", async () => {
    const cell = button.parentElement;
    const open = button.getAttribute("aria-expanded") === "true";
    cell.querySelector(".history")?.remove();
    button.setAttribute("aria-expanded", String(!open));
    button.textContent = open ? "show" : "hide";
    if (open) return;
    const box = h("div", { class: "history" });
    cell.append(box);
    loading(box);
    try {
      const rows = (await gql(HISTORY, { id, key })).person.propertyHistory;
      box.replaceChildren(h("ol", { class: "plain" }, rows.map((r) => h("li", {}, h("code", {}, fmt.value(r.value)), h("span", { class: "muted" }, ` · ${fmt.dateTime(r.at)}`)))));
    } catch (error) { failure(box, error); }
  });
  return button;
}

async function more(list, id, after, ctx) {
  let conn;
  try { conn = (await gql(EVENTS, { id, after })).person.events; }
  catch (error) { const b = h("li"); list.append(b); failure(b, error); return; }
  if (!ctx.current()) return;
  list.parentElement.querySelector("button.more")?.remove();
  if (!conn.nodes.length && !after) { const b = h("li"); list.append(b); empty(b, "No events."); return; }
  for (const e of conn.nodes) {
    const props = Object.entries(e.properties || {}).map(([k, v]) => `${k}: ${fmt.value(v)}`).join(" · ");
    list.append(h("li", { dataset: { name: e.name, id: e.id } },
      h("time", { datetime: e.timestamp }, fmt.dateTime(e.timestamp)), " ",
      h("strong", {}, e.name), e.revenue !== null && e.revenue !== undefined ? h("span", { class: "pill live" }, fmt.money(e.revenue)) : "",
      h("div", { class: "muted small" }, `as ${e.identity}${props ? ` · ${props}` : ""}`)));
  }
  if (conn.pageInfo.hasNextPage) {
    list.after(h("button", { type: "button", class: "more", onclick: () => more(list, id, conn.pageInfo.endCursor, ctx) }, "Older events"));
  }
}
