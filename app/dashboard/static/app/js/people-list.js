// The people behind a number: one PersonConnection, listed 50 at a time with a
// "More people" button. `fetchPage(after)` asks the report for that page.
import * as fmt from "./format.js";
import { card, empty, failure, h, loading, personLink } from "./ui.js";

export const PAGE_SIZE = 50;
export const PERSON_FIELDS = `totalCount pageInfo { hasNextPage endCursor } nodes { id identities lastSeen }`;

export async function showPeople(box, { id, title, dataset = {}, fetchPage }, after = null, list = null) {
  if (!after) {
    box.replaceChildren(card(title, h("div", { id })));
    loading(box.querySelector(`#${id}`));
  }
  const target = box.querySelector(`#${id}`);
  try {
    const conn = await fetchPage(after);
    if (!list) {
      list = h("ul", { class: "people-list", dataset: { total: conn.totalCount, ...dataset } });
      target.replaceChildren(h("p", { class: "muted" }, `${fmt.count(conn.totalCount)} people`), list);
    }
    target.querySelector("button.more")?.remove();
    for (const p of conn.nodes) list.append(h("li", {}, personLink(p), h("span", { class: "muted" }, ` · last seen ${fmt.dateTime(p.lastSeen)}`)));
    if (!conn.nodes.length && !after) empty(target, "Nobody.");
    if (conn.pageInfo.hasNextPage) {
      target.append(h("button", { type: "button", class: "more", onclick: () => showPeople(box, { id, title, dataset, fetchPage }, conn.pageInfo.endCursor, list) }, "More people"));
    }
    box.scrollIntoView({ block: "nearest" });
  } catch (error) {
    failure(target, error);
  }
}
