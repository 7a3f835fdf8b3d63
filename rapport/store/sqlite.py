"""The embedded default backend: SQLite from the standard library.

SQLite never runs on the event loop (issue 12: a webhook burst on the loop stalled every sidebar):
- writes go to ONE writer thread holding the one write connection, so writers queue there, never
  on the loop, and every multi-row write is one transaction (a failure leaves nothing half-written);
- reads go to a small pool of reader threads, each with its own connection: WAL lets them read
  while the writer writes, each statement (or read_many batch) on one committed snapshot;
- except SHORT reads (a point read, one page of up to SHORT_LIMIT rows, a read_many of up to
  SHORT_BATCH of those or of the bounded sets `every` is for (walls, people): what the sidebar asks), which run on the loop's own reader connection: a WAL reader never
  waits for the writer, such a read takes tens of microseconds, less than the hop to a thread and
  back (bench/sidebar.py measured the hop at +1 ms a request and 40% of its throughput), and one
  that would wait (SQLITE_BUSY during a checkpoint) is not waited for: it goes to a reader thread.
The loop only hands the rest over and awaits it; the sqlite3 module releases the GIL while SQLite
works, so a slow statement or a queue of writes no longer holds other requests back.
An in-memory database cannot be shared between connections: there the writer thread reads too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rapport.store.base import Backend, Read
from rapport.store.cursor import cursor_in, cursor_out
from rapport.store.errors import AlreadyExists, Conflict, StoreUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  rid INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL, family TEXT NOT NULL, id TEXT NOT NULL,
  doc_type TEXT NOT NULL, at TEXT NOT NULL, etag TEXT NOT NULL, doc TEXT NOT NULL,
  UNIQUE (tenant_id, family, id)
);
DROP INDEX IF EXISTS docs_by_time;
CREATE INDEX IF NOT EXISTS docs_by_time_v2 ON docs (tenant_id, family, doc_type, at, id)
  WHERE family <> 'interactions';  -- interactions are only ever found by key (doc_keys)
CREATE TABLE IF NOT EXISTS doc_keys (
  tenant_id TEXT NOT NULL, family TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, id TEXT NOT NULL,
  doc_type TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, family, key, at, id)
) WITHOUT ROWID;
DROP INDEX IF EXISTS doc_keys_by_id;
CREATE TABLE IF NOT EXISTS tenant_dir (id TEXT PRIMARY KEY) WITHOUT ROWID;
"""

# Version 1 stores (before doc_keys carried the document's rid) are migrated in place when opened.
_MIGRATE_V1 = """
ALTER TABLE docs RENAME TO docs_v1;
CREATE TABLE docs (
  rid INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL, family TEXT NOT NULL, id TEXT NOT NULL,
  doc_type TEXT NOT NULL, at TEXT NOT NULL, etag TEXT NOT NULL, doc TEXT NOT NULL,
  UNIQUE (tenant_id, family, id)
);
INSERT INTO docs (rid, tenant_id, family, id, doc_type, at, etag, doc)
  SELECT rowid, tenant_id, family, id, doc_type, at, etag, doc FROM docs_v1 ORDER BY rowid;
DROP TABLE docs_v1;
CREATE INDEX IF NOT EXISTS docs_by_time_v2 ON docs (tenant_id, family, doc_type, at, id)
  WHERE family <> 'interactions';
DELETE FROM doc_keys WHERE NOT EXISTS (SELECT 1 FROM docs d
  WHERE d.tenant_id=doc_keys.tenant_id AND d.family=doc_keys.family AND d.id=doc_keys.id);
ALTER TABLE doc_keys ADD COLUMN rid INTEGER NOT NULL DEFAULT 0;
UPDATE doc_keys SET rid = (SELECT d.rid FROM docs d
  WHERE d.tenant_id=doc_keys.tenant_id AND d.family=doc_keys.family AND d.id=doc_keys.id);
"""


# Why this shape (bench/store.py measures it; bulk upsert was 4x under budget before):
# - docs is a rowid table: a document body (~1 KB) appends instead of splitting pages of a
#   clustered index at a random id, which made every bulk write rewrite most of the table's pages;
# - doc_keys carries each document's rid (an explicit INTEGER PRIMARY KEY, so VACUUM keeps it): a
#   find joins straight to the row instead of looking its id up in docs' unique index first. That
#   halves the random page reads of the sidebar's history query (bench/sidebar.py);
# - doc_keys has no index by id: a document's old keys are deleted by their exact primary key,
#   taken from the stored document (its ixKeys and at) before it is overwritten (_DELETE_KEYS).
_DELETE_KEYS = (
    "DELETE FROM doc_keys WHERE tenant_id=?1 AND family=?2 AND id=?3 "
    "AND at=(SELECT at FROM docs WHERE tenant_id=?1 AND family=?2 AND id=?3) "
    "AND key IN (SELECT value FROM json_each("
    "(SELECT doc FROM docs WHERE tenant_id=?1 AND family=?2 AND id=?3), '$.ixKeys'))"
)
_DELETE_KEYS_OF_RID = (  # the same, for a document whose rid is known
    "DELETE FROM doc_keys WHERE tenant_id=?1 AND family=?2 AND id=?3 "
    "AND at=(SELECT at FROM docs WHERE rid=?4) "
    "AND key IN (SELECT value FROM json_each((SELECT doc FROM docs WHERE rid=?4), '$.ixKeys'))"
)
_TIMED = "d.family <> 'interactions'"  # the partial index docs_by_time_v2's condition
_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per json.dumps call


_GET_TEXT = "SELECT doc_type, doc, etag FROM docs WHERE tenant_id=? AND family=? AND id=?"


def _find_sql(tenant_id: str, family: str, doc_type: str, key: str | None, at_from: str | None, at_to: str | None,
              desc: bool, limit: int, cursor: str | None) -> tuple[str, list[Any]]:
    """One find's statement: by index key (doc_keys, joined to the row by rid) or by type and time
    (docs), asking one row past `limit` to tell whether a next page exists."""
    if key is not None:
        src = "doc_keys k JOIN docs d ON d.rid=k.rid"
        where = ["k.tenant_id=?", "k.family=?", "k.key=?", "k.doc_type=?"]
        args: list[Any] = [tenant_id, family, key, doc_type]
        t = "k"
    else:
        src = "docs d"
        where = ["d.tenant_id=?", "d.family=?", "d.doc_type=?"]
        args = [tenant_id, family, doc_type]
        if family != "interactions":
            # The partial time index's own condition, word for word, so the planner may use it.
            where.append(_TIMED)
        t = "d"
    if at_from is not None:
        where.append(f"{t}.at >= ?")
        args.append(at_from)
    if at_to is not None:
        where.append(f"{t}.at < ?")
        args.append(at_to)
    if cursor:
        c_at, c_id = cursor_in(cursor)
        where.append(f"({t}.at, {t}.id) {'<' if desc else '>'} (?, ?)")
        args += [c_at, c_id]
    order = "DESC" if desc else "ASC"
    sql = (f"SELECT d.doc, d.etag, {t}.at, {t}.id FROM {src} WHERE {' AND '.join(where)} "
           f"ORDER BY {t}.at {order}, {t}.id {order} LIMIT ?")
    args.append(limit + 1)
    return sql, args


def _page(rows: list[tuple], limit: int) -> tuple[list[tuple[str, str]], str | None]:
    """A find's rows as (JSON text, etag) pairs, and the cursor of the next page if there is one."""
    nxt = cursor_out(rows[limit - 1][2], rows[limit - 1][3]) if len(rows) > limit else None
    return [(body, etag) for body, etag, _at, _id in rows[:limit]], nxt


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Give a version 1 store its rids, in one transaction (a crash leaves the old store as it was).
    About a minute per GB; logged, since the first start after an upgrade waits for it."""
    import logging

    logging.getLogger("rapport.store").warning("upgrading the SQLite store %s (one-off; large stores take a while)",
                                               conn.execute("PRAGMA database_list").fetchone()[2])
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _MIGRATE_V1.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    # The copy went through the WAL: fold it into the file now, or every read would search it.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _Writer:
    """The one writer thread: runs calls in priority order (0 before 1), FIFO within a priority, so
    a webhook's one-row write is not queued behind a capture's bulk transactions."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="rapport-sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], priority: int = 0) -> Future:
        if self._closed:
            raise RuntimeError("the sqlite writer is shut down")
        done: Future = Future()
        self._queue.put((priority, next(self._order), fn, done))
        return done

    def _work(self) -> None:
        while True:
            _, _, fn, done = self._queue.get()
            if fn is None:
                return
            if not done.set_running_or_notify_cancel():
                continue
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
                done.set_exception(exc)

    def shutdown(self, wait: bool = True) -> None:
        """Stop after the calls already submitted (the stop sorts after every priority)."""
        if not self._closed:
            self._closed = True
            self._queue.put((99, next(self._order), None, None))
        if wait:
            self._thread.join()


class _Busy(Exception):
    """A short read on the loop's connection would have to wait for a lock."""


class SqliteBackend(Backend):
    name = "sqlite"
    concurrent_reads = False  # read_many goes through read_texts: the whole batch in one hop to a reader
    stores_text = True
    READERS = 3  # reader threads (and connections); the machine's cores, not the request count, bound the gain
    SHORT_LIMIT = 100  # rows of one page a short read may ask for
    SHORT_BATCH = 16  # reads of a read_many batch that still count as short (the sidebar's is ~12)

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None  # the write connection, used only on the writer thread
        self._writer: _Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()  # a reader thread's own connection
        self._inline: sqlite3.Connection | None = None  # the loop's reader connection, for short reads
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._scan_conn: sqlite3.Connection | None = None  # whole-firm scans (export, erasure), one at a time
        self._scan_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA busy_timeout=10000")
        # Reads map the file instead of copying pages through a 2 MB cache: at a firm's scale
        # (GBs, 1M+ interactions) this is what keeps the sidebar's index reads sub-millisecond.
        conn.execute("PRAGMA mmap_size=1073741824")
        return conn

    def _open_sync(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-262144")
            conn.execute("PRAGMA wal_autocheckpoint=16384")  # 64 MB: fewer, larger checkpoints under bulk capture
            conn.executescript(SCHEMA)
            if "rid" not in {row[1] for row in conn.execute("PRAGMA table_info(docs)")}:
                _migrate_v1(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        if self._conn is not None:
            return
        writer = _Writer()
        try:
            conn = await asyncio.wrap_future(writer.submit(self._open_sync))
        except (sqlite3.Error, OSError) as exc:
            writer.shutdown(wait=False)
            raise StoreUnavailable(f"sqlite open failed: {exc}") from None
        except BaseException:
            writer.shutdown(wait=False)
            raise
        self._conn, self._writer = conn, writer
        if self.path != ":memory:":
            self._readers = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="rapport-sqlite-reader")
            try:
                inline = self._connect()
                inline.execute("PRAGMA query_only=1")
                inline.execute("PRAGMA busy_timeout=0")  # never wait on the loop: a busy read goes to a thread
                self._inline = inline
            except sqlite3.Error:
                self._inline = None  # short reads take the thread path too

    async def close(self) -> None:
        writer, readers, conn, inline = self._writer, self._readers, self._conn, self._inline
        self._writer = self._readers = self._conn = self._inline = None
        if inline is not None:
            inline.close()
        # Calls already handed over finish first; then each connection closes.
        for pool in (readers, writer):
            if pool is not None:
                await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
        with self._conns_lock:
            conns, self._reader_conns = self._reader_conns, []
            self._scan_conn = None
        for c in conns:
            c.close()
        if conn is not None:
            conn.close()
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        """The write connection (for the writer thread, and for tools with the store to themselves)."""
        if self._conn is None:
            raise StoreUnavailable("sqlite store is not open")
        return self._conn

    def _reader_db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")  # a reader never writes, whatever a bug asks of it
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
            with self._conns_lock:
                self._reader_conns.append(conn)
        return conn

    @staticmethod
    def _guard(db: sqlite3.Connection, fn, *, busy_is_error: bool = True):
        try:
            return fn(db)
        except (Conflict, AlreadyExists):
            raise
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if not busy_is_error and (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Busy() from None
            raise StoreUnavailable(f"sqlite: {exc}") from None
        except Exception:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def _run(self, fn, *, bulk: bool = False):
        """Run fn(write connection) on the writer thread (writes, and reads of a :memory: store);
        `bulk` (capture's many-row transactions) after any one-row write waiting meanwhile."""
        writer = self._writer
        if writer is None:
            raise StoreUnavailable("sqlite store is not open")
        try:
            done = writer.submit(lambda: self._guard(self._db(), fn), 1 if bulk else 0)
        except RuntimeError as exc:  # the store was closed meanwhile (writer shut down)
            raise StoreUnavailable(f"sqlite: {exc}") from None
        return await asyncio.wrap_future(done)

    async def _read(self, fn, *, short: bool = False):
        """Run fn(a reader connection) on a reader thread: one snapshot, never blocked by the writer.
        A `short` read runs on the loop's reader connection unless it would have to wait."""
        inline = self._inline if short else None
        if inline is not None:
            try:
                return self._guard(inline, fn, busy_is_error=False)
            except _Busy:
                pass  # a checkpoint holds it: wait for it on a reader thread, not on the loop
        return await self._on_reader(self._reader_db, fn)

    async def _on_reader(self, connection, fn, lock=None):
        """Run fn(connection()) on a reader thread (under `lock` if given); on the writer thread when
        there are no readers (a :memory: store)."""
        readers = self._readers
        if readers is None:
            return await self._run(fn)

        def call():
            with lock if lock is not None else contextlib.nullcontext():
                try:
                    db = connection()
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"sqlite: {exc}") from None
                return self._guard(db, fn)

        try:
            done = asyncio.get_running_loop().run_in_executor(readers, call)
        except RuntimeError as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from None
        return await done

    SCAN_CACHE_KB = 4096  # a scan reads each page once: a small cache, so its memory stays flat

    def _scan_db(self) -> sqlite3.Connection:
        """The scans' own reader connection, with a small page cache: a whole-firm scan through the
        readers' (64 MB each, three of them) would fill them all with pages read once, and an
        export's memory would grow with the firm up to theirs."""
        with self._conns_lock:
            if self._scan_conn is None:
                conn = self._connect()
                conn.execute("PRAGMA query_only=1")
                conn.execute(f"PRAGMA cache_size=-{self.SCAN_CACHE_KB}")
                self._scan_conn = conn
                self._reader_conns.append(conn)  # closed with the readers
            return self._scan_conn

    async def _read_scan(self, fn):
        """Run fn(the scan connection) on a reader thread, one scan page at a time."""
        return await self._on_reader(self._scan_db, fn, self._scan_lock)

    async def ping(self) -> None:
        await self._read(lambda db: db.execute("SELECT 1").fetchone(), short=True)

    async def get_doc(self, tenant_id: str, family: str, doc_id: str) -> dict[str, Any] | None:
        row = await self.get_text(tenant_id, family, doc_id)
        if row is None:
            return None
        doc = json.loads(row[1])
        doc["_etag"] = row[2]
        return doc

    async def get_text(self, tenant_id: str, family: str, doc_id: str) -> tuple[str, str, str] | None:
        return await self._read(lambda db: db.execute(_GET_TEXT, (tenant_id, family, doc_id)).fetchone(), short=True)

    @staticmethod
    def _row(doc: dict[str, Any], etag: str) -> tuple[str, str, Sequence[str], str, str, str]:
        """A document as the (id, doc type, index keys, sort time, JSON text, etag) row _write_rows takes."""
        body = doc if "_etag" not in doc else {k: v for k, v in doc.items() if k != "_etag"}
        return (doc["id"], doc["docType"], doc.get("ixKeys") or (), doc.get("ixAt", ""), _encode(body), etag)

    async def put_doc(
        self, tenant_id: str, family: str, doc: dict[str, Any], *, if_match: str | None = None,
        create_only: bool = False,
    ) -> str:
        if doc.get("tenantId") != tenant_id:
            raise ValueError("document tenantId does not match the partition it is written to")
        etag = uuid.uuid4().hex

        def tx(db: sqlite3.Connection) -> str:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT etag FROM docs WHERE tenant_id=? AND family=? AND id=?", (tenant_id, family, doc["id"])
            ).fetchone()
            if create_only and row is not None:
                db.execute("ROLLBACK")
                raise AlreadyExists(doc["id"])
            if if_match is not None and (row is None or row[0] != if_match):
                db.execute("ROLLBACK")
                raise Conflict()
            self._write_rows(db, tenant_id, family, [self._row(doc, etag)])
            db.execute("COMMIT")
            return etag

        return await self._run(tx)

    async def put_docs_checked(
        self, tenant_id: str, family: str, writes: Sequence[tuple[dict[str, Any], str | None, bool]],
    ) -> list[str | None]:
        for doc, _, _ in writes:
            if doc.get("tenantId") != tenant_id:
                raise ValueError("document tenantId does not match the partition it is written to")
        base = uuid.uuid4().hex[:24]

        def tx(db: sqlite3.Connection) -> list[str | None]:
            db.execute("BEGIN IMMEDIATE")
            current = dict(self._stored(db, tenant_id, family, [d["id"] for d, _, _ in writes], "etag"))
            out: list[str | None] = []
            landed: dict[str, tuple[str, str, Sequence[str], str, str, str]] = {}
            for n, (doc, if_match, create_only) in enumerate(writes):
                have = current.get(doc["id"])
                if (create_only and have is not None) or (if_match is not None and have != if_match):
                    out.append(None)
                    continue
                etag = current[doc["id"]] = f"{base}{n:08x}"  # a later write of the same id sees this one
                landed[doc["id"]] = self._row(doc, etag)
                out.append(etag)
            self._write_rows(db, tenant_id, family, list(landed.values()))
            db.execute("COMMIT")
            return out

        return await self._run(tx, bulk=len(writes) > 1)

    async def put_docs(self, tenant_id: str, family: str, docs: Sequence[dict[str, Any]]) -> None:
        for d in docs:
            if d.get("tenantId") != tenant_id:
                raise ValueError("document tenantId does not match the partition it is written to")
        await self._bulk(tenant_id, family, lambda: [self._row(d, "")[:5] for d in docs])

    async def put_records(self, tenant_id: str, family: str, records: Sequence[Any]) -> None:
        for r in records:
            if r.tenantId != tenant_id:
                raise ValueError("record tenantId does not match the partition it is written to")
        # Encoded on the writer thread too: a capture batch's thousands of records would otherwise
        # hold the event loop for tens of milliseconds (the records are not touched meanwhile).
        await self._bulk(tenant_id, family, lambda: [r.to_row() for r in records])

    async def _bulk(self, tenant_id: str, family: str,
                    rows: Callable[[], Sequence[tuple[str, str, Sequence[str], str, str]]]) -> None:
        """Upsert (id, doc type, index keys, sort time, JSON text) rows in one transaction."""
        # One random ETag base per batch plus a counter: unique per write, without a uuid4 per row.
        base = uuid.uuid4().hex[:24]

        def tx(db: sqlite3.Connection) -> None:
            # The same id twice in one batch: the last one wins (and leaves no stale index keys).
            latest = {d[0]: (*d, f"{base}{n:08x}") for n, d in enumerate(rows())}
            db.execute("BEGIN IMMEDIATE")
            self._write_rows(db, tenant_id, family, list(latest.values()))
            db.execute("COMMIT")

        await self._run(tx, bulk=True)

    @staticmethod
    def _stored(db: sqlite3.Connection, tenant_id: str, family: str, ids: Sequence[str], column: str) -> list[tuple]:
        """(id, column) of the ids already stored: one indexed query per 500 ids."""
        found: list[tuple] = []
        for i in range(0, len(ids), 500):
            part = list(ids[i:i + 500])
            marks = ",".join("?" * len(part))
            found.extend(db.execute(
                f"SELECT id, {column} FROM docs WHERE tenant_id=? AND family=? AND id IN ({marks})",
                (tenant_id, family, *part)).fetchall())
        return found

    def _write_rows(self, db: sqlite3.Connection, tenant_id: str, family: str,
                    docs: list[tuple[str, str, Sequence[str], str, str, str]]) -> None:
        """Write (id, doc type, index keys, sort time, JSON text, etag) rows inside the caller's transaction."""
        if not docs:
            return
        # Sorted by primary key: rows land in B-tree order, touching far fewer pages per batch than
        # random-order inserts (bench/store.py measures it).
        docs = sorted(docs)
        # Rows already stored keep their rid (and lose their old keys before they are overwritten);
        # new rows get the next rids, given here so their keys need no look-up after the insert.
        # The caller holds the write lock (BEGIN IMMEDIATE), so nobody else takes a rid meanwhile.
        existing = dict(self._stored(db, tenant_id, family, [d[0] for d in docs], "rid"))
        db.executemany(_DELETE_KEYS_OF_RID, [(tenant_id, family, i, r) for i, r in existing.items()])
        top = db.execute("SELECT COALESCE(MAX(rid), 0) FROM docs").fetchone()[0]
        rid: dict[str, int] = {}
        for i, *_ in docs:
            found = existing.get(i)
            if found is None:
                top += 1
                found = top
            rid[i] = found
        db.executemany("UPDATE docs SET doc_type=?, at=?, etag=?, doc=? WHERE rid=?",
                       [(t, at, etag, text, rid[i]) for i, t, _, at, text, etag in docs if i in existing])
        db.executemany("INSERT INTO docs (rid, tenant_id, family, id, doc_type, at, etag, doc) VALUES (?,?,?,?,?,?,?,?)",
                       [(rid[i], tenant_id, family, i, t, at, etag, text)
                        for i, t, _, at, text, etag in docs if i not in existing])
        keys = sorted(((tenant_id, family, k, at, i, t, rid[i]) for i, t, ks, at, _, _ in docs for k in set(ks)),
                      key=lambda r: (r[2], r[3], r[4]))
        db.executemany(
            "INSERT OR IGNORE INTO doc_keys (tenant_id, family, key, at, id, doc_type, rid) VALUES (?,?,?,?,?,?,?)",
            keys,
        )
        if family == "tenants":
            db.execute("INSERT OR IGNORE INTO tenant_dir (id) VALUES (?)", (tenant_id,))

    async def delete_doc(self, tenant_id: str, family: str, doc_id: str) -> None:
        def tx(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute(_DELETE_KEYS, (tenant_id, family, doc_id))
            db.execute("DELETE FROM docs WHERE tenant_id=? AND family=? AND id=?", (tenant_id, family, doc_id))
            db.execute("COMMIT")

        await self._run(tx)

    async def find_docs(
        self, tenant_id: str, family: str, doc_type: str, *, key: str | None = None,
        at_from: str | None = None, at_to: str | None = None, desc: bool = False, limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows, nxt = await self.find_texts(tenant_id, family, doc_type, key=key, at_from=at_from, at_to=at_to,
                                          desc=desc, limit=limit, cursor=cursor)
        out = []
        for body, etag in rows:
            doc = json.loads(body)
            doc["_etag"] = etag
            out.append(doc)
        return out, nxt

    async def find_texts(
        self, tenant_id: str, family: str, doc_type: str, *, key: str | None = None,
        at_from: str | None = None, at_to: str | None = None, desc: bool = False, limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[tuple[str, str]], str | None]:
        limit = max(1, min(int(limit), 1000))
        sql, args = _find_sql(tenant_id, family, doc_type, key, at_from, at_to, desc, limit, cursor)
        return _page(await self._read(lambda db: db.execute(sql, args).fetchall(), short=limit <= self.SHORT_LIMIT),
                     limit)

    async def read_texts(self, tenant_id: str, reads: Sequence[Read]) -> list[Any]:
        """A Store.read_many batch in one hop to a reader, on one snapshot: per read, get_text's
        triple (or None) for a point read, the (JSON text, etag) pairs of a find (every page with `every`)."""
        plans: list[tuple[str, list[Any], int, Read]] = []
        for r in reads:
            if r.record_id is not None:
                plans.append((_GET_TEXT, [tenant_id, r.cls.family, r.record_id], 0, r))
                continue
            limit = 1000 if r.every else max(1, min(int(r.limit), 1000))
            sql, args = _find_sql(tenant_id, r.cls.family, r.cls.doc_type, r.key, r.since, r.until, r.newest_first,
                                  limit, None)
            plans.append((sql, args, limit, r))

        def run(db: sqlite3.Connection) -> list[Any]:
            out: list[Any] = []
            if len(plans) > 1:
                db.execute("BEGIN")  # one snapshot for the whole batch (a write may land between statements)
            for sql, args, limit, r in plans:
                if r.record_id is not None:
                    out.append(db.execute(sql, args).fetchone())
                    continue
                items, nxt = _page(db.execute(sql, args).fetchall(), limit)
                while r.every and nxt is not None:  # bounded sets only (walls, people)
                    more, more_args = _find_sql(tenant_id, r.cls.family, r.cls.doc_type, r.key, r.since, r.until,
                                                r.newest_first, limit, nxt)
                    page, nxt = _page(db.execute(more, more_args).fetchall(), limit)
                    items += page
                out.append(items)
            if db.in_transaction:
                db.execute("COMMIT")
            return out

        short = len(reads) <= self.SHORT_BATCH and all(
            r.record_id is not None or r.every or r.limit <= self.SHORT_LIMIT for r in reads)
        return await self._read(run, short=short)

    async def scan_texts(
        self, tenant_id: str, family: str, *, after: str | None = None, limit: int = 1000,
    ) -> tuple[list[str], str | None]:
        # The (tenant_id, family, id) unique index: a range read in id order, on a reader thread.
        limit = max(1, min(int(limit), 1000))
        rows = await self._read_scan(lambda db: db.execute(
            "SELECT id, doc FROM docs WHERE tenant_id=? AND family=? AND id>? ORDER BY id LIMIT ?",
            (tenant_id, family, after or "", limit + 1)).fetchall())
        nxt = rows[limit - 1][0] if len(rows) > limit else None
        return [doc for _id, doc in rows[:limit]], nxt

    async def list_tenant_ids(self) -> list[str]:
        rows = await self._read(
            lambda db: db.execute("SELECT id FROM tenant_dir ORDER BY id").fetchall()
        )
        return [r[0] for r in rows]

    async def purge_tenant(self, tenant_id: str) -> int:
        def tx(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            n = db.execute("DELETE FROM docs WHERE tenant_id=?", (tenant_id,)).rowcount
            db.execute("DELETE FROM doc_keys WHERE tenant_id=?", (tenant_id,))
            db.execute("DELETE FROM tenant_dir WHERE id=?", (tenant_id,))
            db.execute("COMMIT")
            return n

        return await self._run(tx)
