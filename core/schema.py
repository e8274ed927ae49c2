"""The control plane's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

apps = Table(
    "apps",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=True, index=True),
    Column("state", String(20), nullable=False),  # running | stopped | deployed
    Column("created_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
)

functions = Table(
    "functions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("app_id", String(40), nullable=False, index=True),
    Column("name", String(300), nullable=False),
    # msgpack map: reference (module/file/qualname) or pickled callable, options, class info
    Column("definition", LargeBinary, nullable=False),
    Column("parent_id", String(40), nullable=True),  # a class bound to parameters: its class
    Column("created_at", Float, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("function_id", String(40), nullable=False, index=True),
    Column("mode", String(16), nullable=False),  # remote | map | gen | spawn | spawn_map
    Column("num_inputs", Integer, nullable=False, default=0),
    Column("inputs_complete", Boolean, nullable=False, default=False),
    Column("cancelled", Boolean, nullable=False, default=False),
    # the caller has everything it asked for: nothing left to run or to resend
    Column("finished", Boolean, nullable=False, default=False),
    # outputs the caller confirmed receiving: msgpack [upto, [idx above upto...]]
    Column("acked", LargeBinary, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Inputs are stored as the batches callers submit them in (one row for up to 1,000 inputs),
# so making a map's inputs durable costs one write per batch, not one per input.
input_batches = Table(
    "input_batches",
    metadata,
    Column("call_id", String(40), primary_key=True),
    Column("first_idx", Integer, primary_key=True, autoincrement=False),
    Column("function_id", String(40), nullable=False),
    Column("items", LargeBinary, nullable=False),  # msgpack [[idx, args, method], ...]
    Column("created_at", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Only inputs that failed or lost a container have a row here.
input_retries = Table(
    "input_retries",
    metadata,
    Column("call_id", String(40), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("attempt", Integer, nullable=False),
    Column("crashes", Integer, nullable=False),
    Column("not_before", Float, nullable=True),
    sqlite_with_rowid=False,
)

# Results kept for later retrieval: those of spawned calls (7 days, as Modal keeps them).
# Outputs of .remote/.map go straight to their caller, which confirms receipt.
outputs = Table(
    "outputs",
    metadata,
    Column("call_id", String(40), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("status", Integer, nullable=False),
    Column("data", LargeBinary, nullable=True),
    Column("finished_at", Float, nullable=False),
    sqlite_with_rowid=False,
)

generator_items = Table(
    "generator_items",
    metadata,
    Column("call_id", String(40), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

containers = Table(
    "containers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("function_id", String(40), nullable=False, index=True),
    Column("app_id", String(40), nullable=False, index=True),
    Column("provider", String(40), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # starting | ready | stopped
    Column("exit_reason", Text, nullable=True),
    Column("region", String(60), nullable=True),
    Column("instance_type", String(80), nullable=True),
    Column("gpu", String(40), nullable=True),
    Column("started_at", Float, nullable=False),
    Column("ready_at", Float, nullable=True),
    Column("stopped_at", Float, nullable=True),
    Column("inputs_done", Integer, nullable=False, default=0),
    # what the cost ledger needs: the app and function by name, the reservation, the price
    # and multipliers in force when it started, and the usage the agent reported
    Column("app_name", String(200), nullable=True),
    Column("function_name", String(300), nullable=True),
    Column("gpu_count", Integer, nullable=False, default=0),
    Column("cpu_request", Float, nullable=True),
    Column("memory_request_mib", Integer, nullable=True),
    Column("usd_per_hour", Float, nullable=False, default=0.0),
    Column("multiplier", Float, nullable=False, default=1.0),
    Column("price_source", Text, nullable=True),
    Column("cpu_seconds", Float, nullable=True),
    Column("peak_memory_mib", Float, nullable=True),
)

# Every provisioning attempt, success or not: what `strato app events` shows.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app_id", String(40), nullable=True, index=True),
    Column("function_id", String(40), nullable=True),
    Column("container_id", String(40), nullable=True),
    Column(
        "kind", String(20), nullable=False
    ),  # launched | refused | skipped | preempted | no-offer
    Column("provider", String(40), nullable=True),
    Column("region", String(60), nullable=True),
    Column("zone", String(60), nullable=True),
    Column("instance_type", String(80), nullable=True),
    Column("error", String(60), nullable=True),
    Column("message", Text, nullable=True),
    Column("ts", Float, nullable=False),
)

# Recent capacity, quota and preemption errors per (provider, region, instance type): the
# capacity memory placement demotes or skips offers with; it decays with age.
capacity_events = Table(
    "capacity_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(40), nullable=False),
    Column("region", String(60), nullable=False),
    Column("instance_type", String(80), nullable=False),
    Column("kind", String(20), nullable=False),  # capacity | quota | preemption
    Column("ts", Float, nullable=False),
)
Index(
    "capacity_by_offer",
    capacity_events.c.provider,
    capacity_events.c.region,
    capacity_events.c.instance_type,
)

logs = Table(
    "logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app_id", String(40), nullable=False),
    Column("function_id", String(40), nullable=True),
    Column("container_id", String(40), nullable=True),
    Column("fd", Integer, nullable=False),  # 1 stdout, 2 stderr
    Column("text", Text, nullable=False),
    Column("ts", Float, nullable=False),
)
Index("logs_by_app", logs.c.app_id, logs.c.id)
