// Small DOM helpers: elements, the loading/empty/error states, labelled form controls.
let uid = 0;

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function loading(target, text = "Loading…") {
  target.replaceChildren(h("div", { class: "state loading", role: "status", "aria-live": "polite" },
    h("span", { class: "spinner", "aria-hidden": "true" }), text));
}

export function empty(target, text) {
  target.replaceChildren(h("div", { class: "state empty", role: "status" }, text));
}

export function failure(target, error, retry) {
  const box = h("div", { class: "state error", role: "alert" },
    ...(error.kind === "cost" ? [h("strong", {}, error.message)] : [
      h("strong", {}, error.kind === "input" ? "This report cannot be computed: " : "Something went wrong: "),
      error.message || String(error)]));
  if (error.requestId) box.append(h("div", { class: "muted" }, `Request id: ${error.requestId}`));
  if (retry) box.append(" ", h("button", { type: "button", onclick: retry }, "Retry"));
  target.replaceChildren(box);
}

// A labelled control; returns the wrapper (label + control).
export function field(label, control, hint) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", { class: "muted" }, hint) : null);
}

export function input(name, value = "", attrs = {}) {
  return h("input", { name, value: value ?? "", autocomplete: "off", ...attrs });
}

export function select(name, options, value) {
  const el = h("select", { name });
  for (const opt of options) {
    const [v, text] = Array.isArray(opt) ? opt : [opt, opt];
    const o = h("option", { value: v }, text);
    if (String(v) === String(value ?? "")) o.selected = true;
    el.append(o);
  }
  return el;
}

export function datalist(id, names) {
  return h("datalist", { id }, names.map((n) => h("option", { value: n })));
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h3", {}, title) : null, ...children);
}

export function stat(label, text, attrs = {}) {
  return h("div", { class: "stat", ...attrs }, h("div", { class: "stat-value" }, text), h("div", { class: "stat-label" }, label));
}

// A plain table. columns: [{label, cell(row) -> Node|string, class?}]
export function table(columns, rows, attrs = {}) {
  return h("div", { class: "table-wrap" }, h("table", attrs,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => {
      const v = c.cell(r);
      return h("td", { class: c.class }, v);
    }))))));
}

export function personLink(person) {
  const label = (person.identities && person.identities.find((i) => i.includes("@"))) ||
    (person.identities && person.identities[0]) || person.id;
  return h("a", { href: `#/person?id=${encodeURIComponent(person.id)}`, class: "person-link", dataset: { personId: person.id } }, label);
}

// Time ranges: whole UTC days ending with today, so a bookmark means the same days all day long.
export function dayRange(days) {
  const to = new Date();
  to.setUTCHours(0, 0, 0, 0);
  to.setUTCDate(to.getUTCDate() + 1);
  const from = new Date(to.getTime() - Number(days) * 86400000);
  return { from: from.toISOString(), to: to.toISOString() };
}

export const RANGES = [["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"], ["182", "Last 6 months"], ["365", "Last 12 months"]];
export const PERIODS = [["HOUR", "Hour"], ["DAY", "Day"], ["WEEK", "Week"], ["MONTH", "Month"]];

// A form whose submit writes its fields into the URL fragment (the page state).
export function stateForm(ctx, children, { submit = "Run", collect } = {}) {
  const form = h("form", { class: "controls", autocomplete: "off" }, children,
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary" }, submit)));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const params = collect ? collect(form) : Object.fromEntries(new FormData(form).entries());
    ctx.go(ctx.page, params);
  });
  return form;
}
