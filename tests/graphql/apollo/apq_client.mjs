// Apollo Client with its persisted-query link (useGETForHashedQueries) against
// a running whodid: node apq_client.mjs <base url> <read key>. Prints one JSON
// object: every HTTP exchange the client made and the data of each query.
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [base, key] = process.argv.slice(2);
const exchanges = [];

async function recordingFetch(url, init = {}) {
  const response = await fetch(url, init);
  const parsed = new URL(url);
  exchanges.push({
    method: init.method || "GET",
    queryInUrl: parsed.searchParams.has("query"),
    extensionsInUrl: parsed.searchParams.has("extensions"),
    queryInBody: typeof init.body === "string" && JSON.parse(init.body).query !== undefined,
    status: response.status,
    contentType: response.headers.get("content-type"),
    cacheControl: response.headers.get("cache-control"),
  });
  return response;
}

function client() {
  // A new client and link each time, like a new browser tab: only the server remembers the hash.
  const persisted = createPersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: true,
  });
  const http = new HttpLink({ uri: `${base}/graphql`, headers: { authorization: `Bearer ${key}` }, fetch: recordingFetch });
  return new ApolloClient({ link: ApolloLink.from([persisted, http]), cache: new InMemoryCache() });
}

const NAMES = gql`query EventNames { eventNames }`;
const REVENUE = gql`query Revenue($from: DateTime!, $to: DateTime!) {
  revenueReport(input: { from: $from, to: $to }) { total payingPeople }
}`;
const variables = { from: "2026-01-01T00:00:00Z", to: "2026-03-01T00:00:00Z" };

const results = [];
async function run(query, vars) {
  const mark = exchanges.length;
  const { data, error } = await client().query({ query, variables: vars, fetchPolicy: "no-cache" });
  results.push({ data: data ?? null, error: error ? String(error) : null, exchanges: exchanges.slice(mark) });
}

await run(NAMES);            // registers: GET (unknown hash), then POST with the query
await run(NAMES);            // a GET with the hash alone
await run(REVENUE, variables);
await run(REVENUE, variables);
console.log(JSON.stringify({ results }));
