"""A database written by an older Strato keeps working: missing columns are added."""

from __future__ import annotations

import sqlite3

from strato.core.store import Store, make_engine, sqlite_url


def test_an_older_calls_table_gains_its_new_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the calls table as an earlier version created it
        conn.execute(
            "CREATE TABLE calls (id VARCHAR(40) PRIMARY KEY, function_id VARCHAR(40) NOT NULL,"
            " mode VARCHAR(16) NOT NULL, num_inputs INTEGER NOT NULL, inputs_complete BOOLEAN"
            " NOT NULL, cancelled BOOLEAN NOT NULL, created_at FLOAT NOT NULL,"
            " expires_at FLOAT NOT NULL)"
        )
        conn.execute("INSERT INTO calls VALUES ('fc-old', 'fu-1', 'spawn', 1, 1, 0, 1.0, 9e18)")
    store = Store(make_engine(sqlite_url(str(path))))
    old = store.get_call("fc-old")
    assert old is not None and old["finished"] in (False, 0) and old["acked"] is None
    store.add_inputs("fc-new", "fu-1", "map", [(0, b"args", None)], last=True, new_call=True)
    assert store.get_call("fc-new")["inputs_complete"]
