"""A real client: Apollo Client's persisted-query link (npm @apollo/client,
`useGETForHashedQueries`, sha256 from node's crypto) against the running
whodid. Its first query is a GET with the hash alone, answered
PersistedQueryNotFound (in JSON, not GraphiQL's HTML: it sends Accept */*),
then a POST with the query registers it; the same query again is one GET.

The npm packages (tests/graphql/apollo/package.json, exact versions, with their
lock file) are installed by `npm ci` into .cache/apollo-apq/ (git-ignored;
npm's own cache in .cache/npm), once, when missing or when the lock changed.
Skipped only when node or npm is absent."""
from __future__ import annotations

import asyncio
import filecmp
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).resolve().parent / "apollo"
WORK = ROOT / ".cache" / "apollo-apq"
FILES = ("package.json", "package-lock.json", "apq_client.mjs")

NODE, NPM = shutil.which("node"), shutil.which("npm")
pytestmark = pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are needed to run Apollo Client")


async def run(*command: str, cwd: Path, timeout: float) -> str:
    process = await asyncio.create_subprocess_exec(*command, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"{' '.join(command)} failed ({process.returncode}):\n{err.decode()[-3000:]}"
    return out.decode()


async def apollo_folder() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    stale = not (WORK / "node_modules" / "@apollo" / "client").is_dir() or not all(
        (WORK / name).exists() and filecmp.cmp(SOURCE / name, WORK / name, shallow=False)
        for name in ("package.json", "package-lock.json"))
    for name in FILES:
        shutil.copyfile(SOURCE / name, WORK / name)
    if stale:
        await run(NPM, "ci", "--no-audit", "--no-fund", "--cache", str(ROOT / ".cache" / "npm"), cwd=WORK, timeout=600)
    return WORK


def exchange(method: str, *, persisted: bool, query: bool) -> dict:
    return {"method": method, "persisted": persisted, "query": query, "status": 200, "json": True}


def shape(row: dict) -> dict:
    return {"method": row["method"], "persisted": row["extensionsInUrl"] or row["method"] == "POST",
            "query": row["queryInUrl"] or row["queryInBody"], "status": row["status"],
            "json": (row["contentType"] or "").startswith("application/json")}


async def test_apollo_persisted_query_link_registers_then_hits_over_get(server, project):
    folder = await apollo_folder()
    out = await run(NODE, "apq_client.mjs", server, project.read_key, cwd=folder, timeout=120)
    results = json.loads(out.strip().splitlines()[-1])["results"]
    names, names_again, report, report_again = results
    for result in results:
        assert result["error"] is None, result

    # First: GET with the hash alone (unknown), then POST with the query and its hash (registers it).
    assert names["data"] == {"eventNames": []}
    assert [shape(r) for r in names["exchanges"]] == [exchange("GET", persisted=True, query=False),
                                                     exchange("POST", persisted=True, query=True)]
    assert names["exchanges"][0]["cacheControl"] == "private, no-cache, must-revalidate"
    # Second, from a new client: one GET with the hash alone, answered.
    assert names_again["data"] == {"eventNames": []}
    assert [shape(r) for r in names_again["exchanges"]] == [exchange("GET", persisted=True, query=False)]

    # A report query: its GET answer may be kept by the browser's cache for a short while.
    assert report["data"]["revenueReport"] == {"__typename": "RevenueReport", "total": "0", "payingPeople": 0}
    assert [shape(r) for r in report_again["exchanges"]] == [exchange("GET", persisted=True, query=False)]
    assert report_again["exchanges"][0]["cacheControl"] == "private, max-age=60"
    assert report_again["data"] == report["data"]
