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
    Column("mode", String(16), nullable=False),  # remote | map | spawn | spawn_map | gen
    Column("num_inputs", Integer, nullable=False, default=0),
    Column("inputs_complete", Boolean, nullable=False, default=False),
    Column("cancelled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

inputs = Table(
    "inputs",
    metadata,
    Column("call_id", String(40), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("function_id", String(40), nullable=False),
    Column("method", String(200), nullable=True),
    Column("args", LargeBinary, nullable=True),
    # pending | running | done
    Column("state", String(10), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),  # failed attempts of user code
    Column("crashes", Integer, nullable=False, default=0),  # containers lost while running it
    Column("container_id", String(40), nullable=True),
    Column("not_before", Float, nullable=True),  # retry backoff
    Column("status", Integer, nullable=True),  # protocol status once done
    Column("output", LargeBinary, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
)
Index("inputs_by_function_state", inputs.c.function_id, inputs.c.state)

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
