"""`whodid project delete NAME` (issue 15): after a confirmation (or --yes),
the project and everything in it; its keys stop working."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.ingest.validation import EventIn

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("events", "identities", "property_changes", "persons")


def _run(*args, env, input=None):
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          input=input, timeout=120)


async def _seed(services, name_prefix):
    keys = await services.auth.create_project(f"{name_prefix}-{os.urandom(3).hex()}")
    await services.ingest.record_events(keys.id, [EventIn(f"p{i}", "Did", {"n": i}) for i in range(20)])
    await services.ingest.set_properties(keys.id, "p1", {"Plan": "Pro"})
    await services.ingest.identify(keys.id, "p2", "user@x")
    return keys


async def _rows(pool, project_id) -> dict:
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t} WHERE project_id = $1", project_id) for t in TABLES}


async def test_project_delete_asks_then_removes_everything(services, database_url, http):
    env = {**os.environ, "DATABASE_URL": database_url}
    doomed, kept = await _seed(services, "doomed"), await _seed(services, "kept")
    kept_before = await _rows(services.pool, kept.id)
    headers = {"Authorization": f"Bearer {doomed.read_key}"}
    assert (await http.post("/graphql", json={"query": "{ eventNames }"}, headers=headers)).status_code == 200

    refused = await asyncio.to_thread(_run, "project", "delete", doomed.name, env=env, input="n\n")
    assert refused.returncode != 0 and "20 events" in refused.stdout and "Aborted" in refused.stderr
    assert (await _rows(services.pool, doomed.id))["events"] == 20

    done = await asyncio.to_thread(_run, "project", "delete", doomed.name, env=env, input="y\n")
    assert done.returncode == 0, done.stderr
    assert "20 events" in done.stdout
    assert await _rows(services.pool, doomed.id) == dict.fromkeys(TABLES, 0)
    assert await services.pool.fetchval("SELECT count(*) FROM projects WHERE id = $1", doomed.id) == 0
    assert await _rows(services.pool, kept.id) == kept_before
    # Its keys stop working in the running server (key caches are told).
    for _ in range(50):
        status = (await http.post("/graphql", json={"query": "{ eventNames }"}, headers=headers)).status_code
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401

    again = await asyncio.to_thread(_run, "project", "delete", doomed.name, "--yes", env=env)
    assert again.returncode != 0 and "no project" in again.stderr
    other = await _seed(services, "yes")
    quick = await asyncio.to_thread(_run, "project", "delete", other.name, "--yes", env=env)
    assert quick.returncode == 0 and await _rows(services.pool, other.id) == dict.fromkeys(TABLES, 0)
