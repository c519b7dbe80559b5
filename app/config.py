"""Settings from the environment, read in one place."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _number(name: str, default, parse, what: str):
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what} (got {raw!r})") from None


def _int(name: str, default: int) -> int:
    return _number(name, default, int, "a whole number")


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


ACCESS_LOG_CHOICES = ("all", "errors", "off")
# What a server process serves (docs/operations.md, "Subscriptions on their
# own workers"): everything; everything but GraphQL over WebSocket; or only
# GraphQL over WebSocket (liveEvents subscriptions), the Live page and
# /live/stats, besides /healthz, /readyz and /metrics.
ROLE_CHOICES = ("all", "api", "live")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    read_database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path.home() / ".local" / "share" / "whodid"
    migrations_dir: Path = ROOT / "db" / "migrations"
    report_ttl: int = 60
    report_timeout: float = 30.0
    pool_min: int = 2
    pool_max: int = 10
    # A report with parts (ReportKind.build_parts: cohort, lifecycle,
    # stickiness, revenue, trends; the funnel without peopleList,
    # ReportService._funnel)
    # runs as this many statements side by side, on as many pooled connections
    # in one snapshot (app/reports/service.py); 1: one statement on one
    # connection.
    # 2: the cores of the machine it was measured on (docs/benchmarks.md
    # §19.2) — more parts than cores only adds statements' fixed costs.
    report_parts: int = 2
    cors_origins: tuple[str, ...] = ()
    log_format: str = "text"
    # Which requests get an access log line: "all", "errors" (status >= 400) or "off".
    access_log: str = "all"
    # Group-commit writer: how many items one transaction takes at most.
    writer_max_batch: int = 2000
    live_queue_size: int = 1000
    # The most a GraphQL query may cost (app/graphql/cost.py, docs/api.md).
    max_query_cost: int = 50_000
    # Automatic persisted queries: documents kept in each process's memory
    # (and, with Redis, how long the shared entry lives).
    apq_max_entries: int = 1000
    apq_ttl: int = 86_400
    # Retention (app/storage/retention.py): seconds between passes (0: no
    # background removal in this process) and events removed per transaction.
    retention_interval: float = 300.0
    retention_batch: int = 2000
    role: str = "all"

    def __post_init__(self) -> None:
        if self.role not in ROLE_CHOICES:
            raise ValueError(f"WHODID_ROLE is one of {', '.join(ROLE_CHOICES)} (got {self.role!r})")
        if self.report_parts < 1:
            raise ValueError(f"WHODID_REPORT_PARTS is a whole number of at least 1 (got {self.report_parts})")
        if self.access_log not in ACCESS_LOG_CHOICES:
            raise ValueError(f"WHODID_ACCESS_LOG is one of {', '.join(ACCESS_LOG_CHOICES)} (got {self.access_log!r})")

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = os.environ.get("WHODID_DATA_DIR") or os.path.join(
            os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share"), "whodid"
        )
        origins = tuple(o.strip() for o in os.environ.get("WHODID_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            read_database_url=os.environ.get("READ_DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            data_dir=Path(data_dir),
            migrations_dir=Path(os.environ.get("WHODID_MIGRATIONS_DIR") or ROOT / "db" / "migrations"),
            report_ttl=_int("WHODID_REPORT_TTL", 60),
            report_timeout=_float("WHODID_REPORT_TIMEOUT", 30.0),
            pool_min=_int("WHODID_POOL_MIN", 2),
            pool_max=_int("WHODID_POOL_MAX", 10),
            report_parts=_int("WHODID_REPORT_PARTS", 2),
            cors_origins=origins,
            log_format=os.environ.get("WHODID_LOG_FORMAT", "text"),
            access_log=os.environ.get("WHODID_ACCESS_LOG", "all").strip().lower() or "all",
            live_queue_size=_int("WHODID_LIVE_QUEUE", 1000),
            max_query_cost=_int("WHODID_MAX_QUERY_COST", 50_000),
            apq_max_entries=_int("WHODID_APQ_MAX_ENTRIES", 1000),
            apq_ttl=_int("WHODID_APQ_TTL", 86_400),
            retention_interval=_float("WHODID_RETENTION_INTERVAL", 300.0),
            retention_batch=_int("WHODID_RETENTION_BATCH", 2000),
            role=os.environ.get("WHODID_ROLE", "all").strip().lower() or "all",
        )
