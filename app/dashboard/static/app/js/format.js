// Numbers for people; one fixed locale so that the screen reads the same everywhere.
const LOCALE = "en-US";

export function count(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  const v = Number(n);
  const a = Math.abs(v);
  const short = (x, unit) => `${(Math.round(x * 10) / 10).toLocaleString(LOCALE)}${unit}`;
  if (a < 1000) return Number.isInteger(v) ? v.toLocaleString(LOCALE) : (Math.round(v * 100) / 100).toLocaleString(LOCALE);
  if (a < 999950) return short(v / 1e3, "k");
  if (a < 999950000) return short(v / 1e6, "M");
  return short(v / 1e9, "B");
}

export function percent(rate) {
  if (rate === null || rate === undefined || Number.isNaN(Number(rate))) return "–";
  return `${(Math.round(Number(rate) * 1000) / 10).toFixed(1)} %`;
}

export function signedPercent(rate) {
  if (rate === null || rate === undefined) return "–";
  const text = percent(rate);
  return Number(rate) > 0 ? `+${text}` : text;
}

// Decimal strings from the API ("1234.5") with two decimals and grouping.
export function money(decimal) {
  if (decimal === null || decimal === undefined || decimal === "") return "–";
  const v = Number(decimal);
  return v.toLocaleString(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function pValue(p) {
  if (p === null || p === undefined) return "–";
  return p < 0.001 ? "< 0.001" : Number(p).toFixed(3);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "∞";
  const s = Number(seconds);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(Math.round(s / 360) / 10).toLocaleString(LOCALE)} h`;
  return `${(Math.round(s / 8640) / 10).toLocaleString(LOCALE)} d`;
}

export function date(iso, period = "DAY") {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  if (period === "HOUR") return d.toLocaleString(LOCALE, { timeZone: "UTC", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  if (period === "MONTH") return d.toLocaleDateString(LOCALE, { timeZone: "UTC", year: "numeric", month: "short" });
  return d.toLocaleDateString(LOCALE, { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" });
}

export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || "–");
  return d.toLocaleString(LOCALE, { timeZone: "UTC", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) + " UTC";
}

export function value(v) {
  if (v === null || v === undefined) return "(none)";
  if (v === "") return "(empty)";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}
