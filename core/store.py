"""Durable state of the control plane: apps, functions, calls, inputs, containers and logs.

One :class:`Store` wraps a SQLAlchemy engine: SQLite (WAL mode) in the user's data dir by
default, PostgreSQL when ``STRATO_DATABASE_URL`` names one. Every method is one short
transaction; the hot paths (adding inputs, recording outputs) take whole batches.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgpack
from sqlalchemy import (
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)

from strato.core import schema
from strato.core.schema import (
    apps,
    calls,
    capacity_events,
    containers,
    events,
    functions,
    generator_items,
    input_batches,
    input_retries,
    logs,
    outputs,
)

#: How long outputs stay readable: Modal keeps spawned results for 7 days.
SPAWN_RETENTION_S = 7 * 24 * 3600
#: Outputs of ``.remote``/``.map`` are kept long enough to survive a control-plane restart.
CALL_RETENTION_S = 24 * 3600


def sqlite_url(path: str) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    """An engine tuned for the control plane: WAL and one shared connection for SQLite."""
    if url.startswith("sqlite"):
        # A pool, not one shared connection: the event loop, provisioning threads and image
        # or volume workers each check out their own connection, so one thread can never
        # roll back another's transaction; WAL lets readers run beside the one writer.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=24,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def add_missing_columns(engine: Engine) -> list[str]:
    """Bring a database made by an older Strato up to date: add the columns its tables lack
    (with their defaults), so an upgrade keeps the apps, logs and queues it holds."""
    from sqlalchemy import inspect as inspect_db
    from sqlalchemy.schema import CreateColumn

    added = []
    existing = inspect_db(engine)
    with engine.begin() as conn:
        for table in schema.metadata.sorted_tables:
            if not existing.has_table(table.name):
                continue
            have = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                ddl = str(CreateColumn(column).compile(dialect=engine.dialect))
                default = column.default.arg if column.default is not None else None
                if default is not None and not callable(default):
                    literal = int(default) if isinstance(default, bool) else default
                    ddl = ddl.replace(" NOT NULL", "") + f" DEFAULT {literal!r}"
                elif not column.nullable:
                    ddl = ddl.replace(" NOT NULL", "")
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                added.append(f"{table.name}.{column.name}")
    return added


class Store:
    """Transactions over the control plane's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        from strato.core import objects

        objects.load()  # their tables live on the same metadata
        schema.metadata.create_all(engine)
        add_missing_columns(engine)

    def _insert_ignore(self, table: Any) -> Any:
        if self.is_sqlite:
            return insert(table).prefix_with("OR IGNORE")
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()

    # -- apps and functions ------------------------------------------------------------------
    def create_app(self, app_id: str, name: str | None, state: str = "running") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(apps).values(id=app_id, name=name, state=state, created_at=time.time())
            )

    def set_app_state(self, app_id: str, state: str) -> None:
        stopped_at = time.time() if state == "stopped" else None
        with self.engine.begin() as conn:
            conn.execute(
                update(apps).where(apps.c.id == app_id).values(state=state, stopped_at=stopped_at)
            )

    def get_app(self, app_id_or_name: str) -> dict[str, Any] | None:
        """An app by id, or the most recent app with that name."""
        with self.engine.connect() as conn:
            row = conn.execute(select(apps).where(apps.c.id == app_id_or_name)).first()
            if row is None:
                row = conn.execute(
                    select(apps)
                    .where(apps.c.name == app_id_or_name)
                    .order_by(apps.c.created_at.desc())
                ).first()
        return dict(row._mapping) if row else None

    def list_apps(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(apps).order_by(apps.c.created_at.desc())).all()
            counts = dict(
                conn.execute(
                    select(functions.c.app_id, func.count()).group_by(functions.c.app_id)
                ).all()
            )
        return [dict(r._mapping, functions=counts.get(r.id, 0)) for r in rows]

    def create_function(
        self,
        function_id: str,
        app_id: str,
        name: str,
        definition: bytes,
        parent_id: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self._insert_ignore(functions).values(
                    id=function_id,
                    app_id=app_id,
                    name=name,
                    definition=definition,
                    parent_id=parent_id,
                    created_at=time.time(),
                )
            )

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(functions).where(functions.c.id == function_id)).first()
        return dict(row._mapping) if row else None

    def find_function(self, app_id: str, name: str) -> dict[str, Any] | None:
        """The function (not a parameter-bound variant) named ``name`` in an app."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(functions).where(
                    functions.c.app_id == app_id,
                    functions.c.name == name,
                    functions.c.parent_id.is_(None),
                )
            ).first()
        return dict(row._mapping) if row else None

    # -- raw transactions --------------------------------------------------------------------
    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A DBAPI cursor in one transaction: the hot paths skip SQLAlchemy's per-statement
        overhead (about 40x the cost of the SQLite write itself)."""
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            yield cursor
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _sql(self, text: str) -> str:
        return text if self.is_sqlite else text.replace("?", "%s")

    # -- calls and inputs --------------------------------------------------------------------
    def add_inputs(
        self,
        call_id: str,
        function_id: str,
        mode: str,
        items: Sequence[tuple[int, bytes, str | None]],
        last: bool,
        new_call: bool = False,
    ) -> None:
        """Create the call if new and store one batch of its inputs, durably.

        ``new_call`` says the caller knows the call is new, which saves two statements on the
        path of a single ``.remote``.
        """
        now = time.time()
        retention = SPAWN_RETENTION_S if mode.startswith("spawn") else CALL_RETENTION_S
        top = max((idx for idx, _, _ in items), default=-1) + 1
        with self._cursor() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO calls (id, function_id, mode, num_inputs, inputs_complete,"
                    " cancelled,"
                    " finished, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING"
                ),
                (
                    call_id,
                    function_id,
                    mode,
                    top,
                    bool(last and new_call),
                    False,
                    False,
                    now,
                    now + retention,
                ),
            )
            if items:
                cur.execute(
                    self._sql(
                        "INSERT INTO input_batches"
                        " (call_id, first_idx, function_id, items, created_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                    ),
                    (
                        call_id,
                        items[0][0],
                        function_id,
                        msgpack.packb([list(i) for i in items]),
                        now,
                    ),
                )
            if not new_call:
                cur.execute(
                    self._sql("UPDATE calls SET num_inputs = ? WHERE id = ? AND num_inputs < ?"),
                    (top, call_id, top),
                )
                if last:
                    cur.execute(
                        self._sql("UPDATE calls SET inputs_complete = ? WHERE id = ?"),
                        (True, call_id),
                    )

    def stored_indices(self, call_id: str) -> set[int]:
        """Indices of every input of a call that is already stored."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(input_batches.c["items"]).where(input_batches.c.call_id == call_id)
            ).all()
        return {item[0] for row in rows for item in msgpack.unpackb(row[0])}

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.id == call_id)).first()
        return dict(row._mapping) if row else None

    def record_outputs(self, items: Iterable[tuple[str, int, int, bytes | None]]) -> None:
        """Keep the results of spawned inputs for later retrieval (batch; first one wins)."""
        now = time.time()
        rows = [(call_id, idx, status, data, now) for call_id, idx, status, data in items]
        if rows:
            with self._cursor() as cur:
                cur.executemany(
                    self._sql(
                        "INSERT INTO outputs (call_id, idx, status, data, finished_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                    ),
                    rows,
                )

    def record_generator_items(self, items: Iterable[tuple[str, int, int, bytes]]) -> None:
        rows = list(items)
        if rows:
            with self._cursor() as cur:
                cur.executemany(
                    self._sql(
                        "INSERT INTO generator_items (call_id, idx, seq, data) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT DO NOTHING"
                    ),
                    rows,
                )

    def generator_items(self, call_id: str, idx: int, from_seq: int = 0) -> list[bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(generator_items.c.data)
                .where(
                    generator_items.c.call_id == call_id,
                    generator_items.c.idx == idx,
                    generator_items.c.seq >= from_seq,
                )
                .order_by(generator_items.c.seq)
            ).all()
        return [r.data for r in rows]

    def update_attempts(self, rows: Sequence[tuple[str, int, int, int, float | None]]) -> None:
        """Persist retry counters: (call, idx, attempt, crashes, not_before)."""
        if not rows:
            return
        with self._cursor() as cur:
            cur.executemany(
                self._sql(
                    "INSERT INTO input_retries (call_id, idx, attempt, crashes, not_before)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (call_id, idx) DO UPDATE SET"
                    " attempt = excluded.attempt, crashes = excluded.crashes,"
                    " not_before = excluded.not_before"
                ),
                list(rows),
            )

    def save_progress(self, rows: Sequence[tuple[str, bytes | None, bool]]) -> None:
        """Persist what callers confirmed receiving: (call, acked, finished). A finished call's
        inputs are dropped, since nothing will run or be resent again."""
        if not rows:
            return
        finished = [(call_id,) for call_id, _, done in rows if done]
        with self._cursor() as cur:
            cur.executemany(
                self._sql("UPDATE calls SET acked = ?, finished = ? WHERE id = ?"),
                [(acked, done, call_id) for call_id, acked, done in rows],
            )
            if finished:
                cur.executemany(self._sql("DELETE FROM input_batches WHERE call_id = ?"), finished)
                cur.executemany(self._sql("DELETE FROM input_retries WHERE call_id = ?"), finished)

    def get_output(self, call_id: str, idx: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(outputs.c.status, outputs.c.data).where(
                    outputs.c.call_id == call_id, outputs.c.idx == idx
                )
            ).first()
        return dict(row._mapping) if row else None

    def outputs_range(self, call_id: str, start: int, end: int) -> list[dict[str, Any]]:
        """Stored outputs of a spawned call with ``start <= idx < end``, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outputs.c.idx, outputs.c.status, outputs.c.data)
                .where(outputs.c.call_id == call_id, outputs.c.idx >= start, outputs.c.idx < end)
                .order_by(outputs.c.idx)
            ).all()
        return [dict(r._mapping) for r in rows]

    def unfinished_calls(self) -> list[dict[str, Any]]:
        """Calls with inputs still to run, each with ``inputs`` (not yet done, oldest first),
        for rebuilding the queues after a restart."""
        now = time.time()
        result = []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(calls)
                .where(
                    calls.c.finished.is_(False),
                    calls.c.cancelled.is_(False),
                    calls.c.expires_at > now,
                )
                .order_by(calls.c.created_at)
            ).all()
            for row in rows:
                call = dict(row._mapping)
                done: set[int] = set()
                if call["mode"].startswith("spawn"):
                    done = {
                        r.idx
                        for r in conn.execute(
                            select(outputs.c.idx).where(outputs.c.call_id == call["id"])
                        )
                    }
                elif call["acked"]:
                    upto, extra = msgpack.unpackb(call["acked"])
                    done = set(range(upto)) | set(extra)
                retries = {
                    r.idx: r
                    for r in conn.execute(
                        select(input_retries).where(input_retries.c.call_id == call["id"])
                    )
                }
                pending = []
                batches = conn.execute(
                    select(input_batches.c["items"])
                    .where(input_batches.c.call_id == call["id"])
                    .order_by(input_batches.c.first_idx)
                ).all()
                for batch in batches:
                    for idx, args, method in msgpack.unpackb(batch[0]):
                        if idx in done:
                            continue
                        retry = retries.get(idx)
                        pending.append(
                            {
                                "idx": idx,
                                "args": args,
                                "method": method,
                                "attempt": retry.attempt if retry else 0,
                                "crashes": retry.crashes if retry else 0,
                                "not_before": retry.not_before if retry else None,
                            }
                        )
                if pending:
                    call["inputs"] = pending
                    result.append(call)
        return result

    def cancel_call(self, call_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(calls).where(calls.c.id == call_id).values(cancelled=True))

    def expire(self, now: float | None = None) -> int:
        """Drop the inputs and outputs of calls past their retention; returns how many calls."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            ids = [r.id for r in conn.execute(select(calls.c.id).where(calls.c.expires_at < now))]
            if ids:
                for table in (input_batches, input_retries, outputs, generator_items):
                    conn.execute(delete(table).where(table.c.call_id.in_(ids)))
                conn.execute(
                    update(calls).where(calls.c.id.in_(ids)).values(expires_at=float("inf"))
                )
        return len(ids)

    # -- containers --------------------------------------------------------------------------
    def add_container(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(containers).values(**row))

    def update_container(self, container_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(containers).where(containers.c.id == container_id).values(**values))

    def get_container(self, container_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(containers).where(containers.c.id == container_id)).first()
        return dict(row._mapping) if row else None

    def list_containers(
        self, app_id: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        """Containers, oldest first; ``since`` keeps those still running or stopped after it."""
        query = select(containers).order_by(containers.c.started_at)
        if app_id:
            query = query.where(containers.c.app_id == app_id)
        if since is not None:
            query = query.where(
                (containers.c.stopped_at.is_(None)) | (containers.c.stopped_at >= since)
            )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def stop_stale_containers(self, reason: str) -> list[str]:
        """Mark every container not stopped as stopped (a restarted plane owns none)."""
        with self.engine.begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    select(containers.c.id).where(containers.c.state != "stopped")
                )
            ]
            if ids:
                conn.execute(
                    update(containers)
                    .where(containers.c.id.in_(ids))
                    .values(state="stopped", exit_reason=reason, stopped_at=time.time())
                )
        return ids

    # -- events and capacity memory ---------------------------------------------------------
    def add_event(self, **values: Any) -> None:
        values.setdefault("ts", time.time())
        with self.engine.begin() as conn:
            conn.execute(insert(events).values(**values))

    def events_for(self, app_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events)
                .where(events.c.app_id == app_id, events.c.id > after_id)
                .order_by(events.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def add_capacity_event(self, provider: str, region: str, instance_type: str, kind: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(capacity_events).values(
                    provider=provider,
                    region=region,
                    instance_type=instance_type,
                    kind=kind,
                    ts=time.time(),
                )
            )

    def capacity_events_since(self, since: float) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(capacity_events).where(capacity_events.c.ts >= since)).all()
        return [dict(r._mapping) for r in rows]

    # -- logs --------------------------------------------------------------------------------
    def append_logs(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(logs), list(rows))

    def logs_after(self, app_id: str, after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(logs.c.id, logs.c.fd, logs.c.text, logs.c.container_id, logs.c.ts)
                .where(logs.c.app_id == app_id, logs.c.id > after_id)
                .order_by(logs.c.id)
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]
