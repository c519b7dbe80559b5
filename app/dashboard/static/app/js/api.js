// The dashboard's only way to the data: the public GraphQL API of this server.
export const KEY_STORE = "whodid.readKey"; // shared with the Live page (same tab, same origin)

export class ApiError extends Error {
  constructor(kind, message, details = {}) {
    super(message);
    this.kind = kind; // "auth" | "input" | "cost" | "server" | "network"
    this.code = details.code || null;
    this.requestId = details.requestId || null;
    this.field = details.field || null;
  }
}

export const getKey = () => sessionStorage.getItem(KEY_STORE);
export const setKey = (key) => sessionStorage.setItem(KEY_STORE, key);
export const clearKey = () => sessionStorage.removeItem(KEY_STORE);

let onAuthError = () => {};
export function whenKeyRefused(callback) { onAuthError = callback; }

// Automatic persisted queries (Apollo's protocol, docs/api.md): a read query is
// sent as a GET carrying only its SHA-256 (and its variables); a hash the server
// does not know yet is answered PERSISTED_QUERY_NOT_FOUND, and the query is then
// POSTed with its hash, which registers it. The key is only ever in the header.
const NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND";
const MAX_GET_URL = 8000; // longer (many variables): the hash goes in a POST body instead
const hashes = new Map(); // document → Promise<hex digest | null>
let persisted = !!(globalThis.crypto && globalThis.crypto.subtle && globalThis.TextEncoder);

function sha256(query) {
  if (!persisted) return Promise.resolve(null);
  let digest = hashes.get(query);
  if (!digest) {
    digest = crypto.subtle.digest("SHA-256", new TextEncoder().encode(query))
      .then((buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join(""))
      .catch(() => null); // no digest: a plain POST
    hashes.set(query, digest);
  }
  return digest;
}

const operationName = (query) => (/^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(query) || [])[1] || null;
const isMutation = (query) => /^\s*mutation\b/.test(query);

// The cost of the last answer (extensions.cost), for the page's footer.
let lastCost = null;
let onCost = () => {};
export function whenCost(callback) { onCost = callback; }
export const currentCost = () => lastCost;

// GraphQL over GET: operationName, variables and extensions in the query string
// (never the key: it stays in the Authorization header).
const getUrl = (payload) => `/graphql?${new URLSearchParams(Object.entries(payload)
  .filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]))}`;

async function send(method, key, payload, signal) {
  let url = "/graphql";
  const init = {
    method,
    headers: { accept: "application/json", authorization: `Bearer ${key}` },
    credentials: "omit",
    signal,
  };
  if (method === "GET") {
    url = getUrl(payload);
    // The browser may keep a report's answer as long as the server says
    // (Cache-Control: private, max-age ≤ 60 s; Vary: Authorization).
    init.cache = "default";
  } else {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(payload);
    init.cache = "no-store";
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError("network", "The server could not be reached. Check your connection and retry.");
  }
  if (response.status === 401) {
    const error = new ApiError("auth", "This key was refused: it is not a key of any project on this server.");
    onAuthError(error);
    throw error;
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!body || (!body.data && !body.errors)) {
    throw new ApiError("server", `The server answered HTTP ${response.status} without a GraphQL result.`);
  }
  return body;
}

const firstCode = (body) => (((body.errors || [])[0] || {}).extensions || {}).code || null;

export async function gql(query, variables = {}, { signal } = {}) {
  const key = getKey();
  if (!key) throw new ApiError("auth", "Sign in with a read key.");
  const name = operationName(query);
  const base = name ? { operationName: name, variables } : { variables };
  const digest = isMutation(query) ? null : await sha256(query);
  let body;
  if (!digest) {
    body = await send("POST", key, { query, ...base }, signal);
  } else {
    const extensions = { persistedQuery: { version: 1, sha256Hash: digest } };
    const hashed = { ...base, extensions };
    body = await send(getUrl(hashed).length <= MAX_GET_URL ? "GET" : "POST", key, hashed, signal);
    const code = firstCode(body);
    const message = ((body.errors || [])[0] || {}).message;
    if (code === "PERSISTED_QUERY_NOT_SUPPORTED" || message === "PersistedQueryNotSupported") {
      persisted = false; // a server without APQ: plain POSTs from now on
      body = await send("POST", key, { query, ...base }, signal);
    } else if (code === NOT_FOUND || message === "PersistedQueryNotFound") {
      body = await send("POST", key, { query, ...hashed }, signal);
    }
  }
  const cost = body.extensions && body.extensions.cost;
  if (cost && typeof cost.requestedQueryCost === "number") {
    lastCost = { operation: name, requested: cost.requestedQueryCost, max: cost.maxCost };
    onCost(lastCost);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    if (ext.code === "FORBIDDEN") {
      const error = new ApiError("auth", "This key may not read: the dashboard needs the project's read key (rk_…), not the write key.", ext);
      onAuthError(error);
      throw error;
    }
    if (ext.code === "QUERY_TOO_COSTLY") {
      const c = ext.cost || cost || {};
      const numbers = typeof c.requestedQueryCost === "number"
        ? ` (it would cost ${c.requestedQueryCost.toLocaleString("en-US")}; this server allows ${Number(c.maxCost).toLocaleString("en-US")} per query)` : "";
      throw new ApiError("cost", `This view asks for too much at once: narrow the range or the list${numbers}.`, ext);
    }
    const kind = ext.code === "BAD_USER_INPUT" ? "input" : "server";
    throw new ApiError(kind, first.message || "The server could not answer.", ext);
  }
  return body.data;
}

// graphql-transport-ws: one subscription per socket, reconnecting with backoff.
export function subscribe(query, variables, { onNext, onState }) {
  let ws = null, closed = false, retries = 0, timer = null, ping = null;
  const open = () => {
    if (closed) return;
    onState && onState("connecting");
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    const socket = new WebSocket(url, "graphql-transport-ws");
    ws = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${getKey()}` } }));
    socket.onmessage = (message) => {
      let msg;
      try { msg = JSON.parse(message.data); } catch (e) { return; }
      if (msg.type === "connection_ack") {
        retries = 0;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
        onState && onState("live");
        clearInterval(ping);
        ping = setInterval(() => socket.readyState === 1 && socket.send(JSON.stringify({ type: "ping" })), 25000);
      } else if (msg.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next" && msg.payload && msg.payload.data) {
        onNext(msg.payload.data);
      } else if (msg.type === "error") {
        onState && onState("error");
      }
    };
    socket.onclose = (event) => {
      clearInterval(ping);
      if (closed || socket !== ws) return;
      if (event.code === 4401 || event.code === 4403) { onState && onState("refused"); return; }
      onState && onState("reconnecting");
      timer = setTimeout(open, Math.min(10000, 500 * 2 ** retries++));
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    clearInterval(ping);
    if (ws) { try { ws.close(1000); } catch (e) { /* already closed */ } }
  };
}

// Person property keys seen on the most recent people: suggestions for the forms
// (the API has no list of keys). Kept for the tab's session, per key.
let keysCache = null;
export async function propertyKeys() {
  const key = getKey();
  if (keysCache && keysCache.key === key) return keysCache.keys;
  const data = await gql("query PropertyKeys { people(first: 200) { nodes { properties } } }");
  const counts = new Map();
  for (const p of data.people.nodes) for (const k of Object.keys(p.properties || {})) counts.set(k, (counts.get(k) || 0) + 1);
  const keys = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
  keysCache = { key, keys };
  return keys;
}
