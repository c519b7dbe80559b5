"""The dashboard's HTTP side: the page with its CSP, the app's modules (they
revalidate), the vendored ECharts under a versioned immutable path with its
licence, and the files shipped as package data."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import httpx

from app.dashboard.routes import ECHARTS_VERSION, STATIC

ROOT = Path(__file__).resolve().parents[2]


async def test_page_modules_and_vendored_library_with_caching_headers(server):
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        page = await client.get("/dashboard")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
        assert page.headers["cache-control"] == "no-cache"
        assert f"/dashboard/vendor/echarts-{ECHARTS_VERSION}/echarts.esm.min.js" in page.text
        # Every script and stylesheet the page names is served by whodid itself.
        for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            if ref.startswith(("#", "data:")):
                continue
            assert ref.startswith("/dashboard/"), ref
            assert (await client.get(ref)).status_code == 200, ref

        main = await client.get("/dashboard/static/js/main.js")
        assert main.status_code == 200 and main.headers["content-type"].startswith("text/javascript")
        assert main.headers["cache-control"] == "no-cache" and main.headers.get("etag")

        lib = await client.get(f"/dashboard/vendor/echarts-{ECHARTS_VERSION}/echarts.esm.min.js")
        assert lib.status_code == 200 and lib.headers["content-type"].startswith("text/javascript")
        assert lib.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert lib.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes it
        licence = await client.get(f"/dashboard/vendor/echarts-{ECHARTS_VERSION}/LICENSE")
        assert "Apache License" in licence.text

        assert (await client.get("/dashboard/static/../routes.py")).status_code == 404
        assert (await client.get("/dashboard/vendor/echarts-0.0.0/echarts.esm.min.js")).status_code == 404


def test_the_modules_import_the_library_of_the_version_served():
    charts = (STATIC / "app" / "js" / "charts.js").read_text()
    assert f"/dashboard/vendor/echarts-{ECHARTS_VERSION}/echarts.esm.min.js" in charts
    library = (STATIC / "vendor" / f"echarts-{ECHARTS_VERSION}" / "echarts.esm.min.js").read_text()
    assert f'"{ECHARTS_VERSION}"' in library
    # No module reaches for another host.
    for path in (STATIC / "app").rglob("*.js"):
        assert not re.search(r"https?://", path.read_text()), path


def test_the_static_files_are_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["app"]
    shipped = set()
    for pattern in patterns:
        shipped |= {p for p in (ROOT / "app").glob(pattern) if p.is_file()}
    wanted = {p for p in STATIC.rglob("*") if p.is_file()}
    assert wanted and wanted <= shipped, sorted(str(p) for p in wanted - shipped)
