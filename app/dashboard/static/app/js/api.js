// The dashboard's only way to the data: the public GraphQL API of this server.
export const KEY_STORE = "whodid.readKey"; // shared with the Live page (same tab, same origin)

export class ApiError extends Error {
  constructor(kind, message, details = {}) {
    super(message);
    this.kind = kind; // "auth" | "input" | "server" | "network"
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

export async function gql(query, variables = {}, { signal } = {}) {
  const key = getKey();
  if (!key) throw new ApiError("auth", "Sign in with a read key.");
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
      credentials: "omit",
      cache: "no-store",
      signal,
    });
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
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    if (ext.code === "FORBIDDEN") {
      const error = new ApiError("auth", "This key may not read: the dashboard needs the project's read key (rk_…), not the write key.", ext);
      onAuthError(error);
      throw error;
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
