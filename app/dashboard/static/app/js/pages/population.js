// The people filter that the reports take (FunnelInput.people, CohortInput.people,
// RevenueReportInput.people): count only people whose property matches. Shown in a
// report's form when the server's input type has `people`.
import { field, h, input, select } from "../ui.js";

export const OPS = ["EQ", "NEQ", "CONTAINS", "STARTS_WITH", "GT", "GTE", "LT", "LTE", "EXISTS", "NOT_EXISTS"];

// A PropertyFilter from a form's key / operator / value; numbers for the comparisons.
export function propertyFilter(key, op, raw = "") {
  const filter = { key, op: OPS.includes(op) ? op : "EQ" };
  if (!["EXISTS", "NOT_EXISTS"].includes(filter.op)) {
    filter.value = ["GT", "GTE", "LT", "LTE"].includes(filter.op) && raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  }
  return filter;
}

export function population(inputType) {
  return {
    requires: (caps) => caps.population.has(inputType),
    fields: (params) => h("div", { class: "field-group" },
      field("Only people whose property", input("pkey", params.pkey, { placeholder: "everyone", list: "population-props" })),
      field("is", select("pop", OPS.map((o) => [o, o.toLowerCase().replace("_", " ")]), params.pop || "EQ")),
      field("this value", input("pvalue", params.pvalue))),
    input: (params) => (params.pkey ? { people: { properties: [propertyFilter(params.pkey, params.pop, params.pvalue ?? "")] } } : {}),
    selection: () => "",
    render: () => null,
  };
}
