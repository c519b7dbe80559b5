// People: search by property and by "did event"; each person links to their page.
import { gql, propertyKeys } from "../api.js";
import * as fmt from "../format.js";
import { OPS, propertyFilter } from "./population.js";
import { RANGES, datalist, dayRange, empty, failure, field, h, input, loading, personLink, select, stateForm, table } from "../ui.js";

const QUERY = `query People($where: PeopleFilter, $after: String) { people(where: $where, first: 50, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  nodes { id identities identified firstSeen lastSeen lifetimeRevenue } } }`;

export function peopleWhere(params) {
  const where = {};
  if (params.key) where.properties = [propertyFilter(params.key, params.op, params.value ?? "")];
  if (params.didEvent) {
    where.didEvent = params.didEvent;
    if (params.days) Object.assign(where, dayRange(params.days));
  }
  return Object.keys(where).length ? where : null;
}

export default {
  id: "people",
  title: "People",
  nav: true,
  async render(root, ctx) {
    const { params } = ctx;
    const [names, keys] = await Promise.all([gql("query Names { eventNames(first: 200) }").then((d) => d.eventNames), propertyKeys()]);
    if (!ctx.current()) return;
    const form = stateForm(ctx, [
      datalist("people-names", names),
      field("Property", input("key", params.key, { placeholder: "e.g. Plan", list: "people-props" })),
      field("Operator", select("op", OPS.map((o) => [o, o.toLowerCase().replace("_", " ")]), params.op || "EQ")),
      field("Value", input("value", params.value, { placeholder: "e.g. Pro" })),
      field("Did event", input("didEvent", params.didEvent, { list: "people-names", placeholder: "any" })),
      field("When", select("days", [["", "Ever"], ...RANGES], params.days || "")),
    ], { submit: "Search" });
    form.append(datalist("people-props", keys));
    const out = h("div", { id: "people-result" });
    root.append(h("h2", {}, "People"), form, out);
    const where = peopleWhere(params);
    out.dataset.variables = JSON.stringify({ where });
    loading(out, "Searching…");
    await page(out, where, null, null, ctx);
  },
};

async function page(out, where, after, body, ctx) {
  let conn;
  try {
    conn = (await gql(QUERY, { where, after })).people;
  } catch (error) { if (ctx.current()) failure(out, error); return; }
  if (!ctx.current()) return;
  if (!body) {
    if (!conn.totalCount) { empty(out, where ? "Nobody matches this search." : "No people yet."); return; }
    const t = table([
      { label: "Person", cell: (p) => personLink(p) },
      { label: "Identified", cell: (p) => (p.identified ? "yes" : "anonymous") },
      { label: "First seen", cell: (p) => fmt.dateTime(p.firstSeen) },
      { label: "Last seen", cell: (p) => fmt.dateTime(p.lastSeen) },
      { label: "Lifetime revenue", class: "num", cell: (p) => fmt.money(p.lifetimeRevenue) },
    ], [], { id: "people-table" });
    body = t.querySelector("tbody");
    out.replaceChildren(h("p", { id: "people-count", dataset: { value: conn.totalCount } }, `${fmt.count(conn.totalCount)} people`), t);
  }
  for (const p of conn.nodes) {
    body.append(h("tr", {}, h("td", {}, personLink(p)), h("td", {}, p.identified ? "yes" : "anonymous"),
      h("td", {}, fmt.dateTime(p.firstSeen)), h("td", {}, fmt.dateTime(p.lastSeen)), h("td", { class: "num" }, fmt.money(p.lifetimeRevenue))));
  }
  out.querySelector("button.more")?.remove();
  if (conn.pageInfo.hasNextPage) {
    out.append(h("button", { type: "button", class: "more", onclick: () => page(out, where, conn.pageInfo.endCursor, body, ctx) }, "More people"));
  }
}
