"""The Store: Rapport's domain operations over one of two backends (SQLite or Cosmos DB).

A backend knows only a handful of primitives over JSON documents: read one, write one (optionally
bound to an ETag), write many, and find by one of the record's index keys within a time range. The
domain operations are written once here on top of them, so both backends behave the same and pass
the same contract suite (tests/contract). Every primitive takes the tenant id first: there is no
way to ask a backend for a document without naming its partition.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_json

from rapport.records import (
    AuditEvent,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    Person,
    Record,
    Signal,
    Tenant,
    Wall,
    WorkItem,
    contact_id,
    iso,
    utcnow,
)
from rapport.store.errors import AlreadyExists, Conflict
from rapport.text import clean, clean_json

R = TypeVar("R", bound=Record)
log = logging.getLogger("rapport.store")


@dataclass
class Page:
    items: list[Any]
    cursor: str | None  # opaque; pass back for the next page, None when there is no more


@dataclass(frozen=True)
class Read:
    """One read of a batch (Store.read_many): a point read by `record_id`, or a find by index `key`.

    `every=True` pages to the end (bounded sets only: walls, people); otherwise one page of `limit`.
    """

    cls: type[Record]
    record_id: str | None = None
    key: str | None = None
    since: str | None = None
    until: str | None = None
    newest_first: bool = False
    limit: int = 100
    every: bool = False


class Backend(abc.ABC):
    """The primitives a storage engine provides. Documents are dicts as made by Record.to_doc()."""

    name: str = "backend"
    concurrent_reads: bool = True  # Store.read_many issues a batch concurrently (a network backend)
    # True when the backend keeps documents as JSON text and offers get_text/find_texts: the Store
    # then validates that text in one step (pydantic's parser) instead of json.loads + validation,
    # which halves the cost of every record the sidebar reads.
    stores_text: bool = False

    async def get_text(self, tenant_id: str, family: str, doc_id: str) -> tuple[str, str, str] | None:
        """(doc type, JSON text, etag) of a document, or None. Only when `stores_text`."""
        raise NotImplementedError

    async def find_texts(
        self, tenant_id: str, family: str, doc_type: str, *, key: str | None = None,
        at_from: str | None = None, at_to: str | None = None, desc: bool = False, limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[tuple[str, str]], str | None]:
        """find_docs, as (JSON text, etag) pairs. Only when `stores_text`."""
        raise NotImplementedError

    async def read_texts(self, tenant_id: str, reads: Sequence[Read]) -> list[Any]:
        """A Store.read_many batch in one call: per read, get_text's triple (or None) for a point
        read, the (JSON text, etag) pairs of a find (all pages with `every`). Only when `stores_text`."""
        raise NotImplementedError

    async def open(self) -> None:  # noqa: B027 - optional hook
        pass

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass

    @abc.abstractmethod
    async def ping(self) -> None: ...

    @abc.abstractmethod
    async def get_doc(self, tenant_id: str, family: str, doc_id: str) -> dict[str, Any] | None:
        """The document with its `_etag`, or None."""

    @abc.abstractmethod
    async def put_doc(
        self, tenant_id: str, family: str, doc: dict[str, Any], *, if_match: str | None = None,
        create_only: bool = False,
    ) -> str:
        """Write one document, returning its new ETag. Raises Conflict / AlreadyExists."""

    async def put_records(self, tenant_id: str, family: str, records: Sequence[Record]) -> None:
        """Upsert many records of one tenant and family (the bulk path of Store.put_many). A backend
        may write Record.to_json() text directly instead of going through dicts (SQLite does)."""
        await self.put_docs(tenant_id, family, [_storable_doc(r)[0] for r in records])

    @abc.abstractmethod
    async def put_docs(self, tenant_id: str, family: str, docs: Sequence[dict[str, Any]]) -> None:
        """Upsert many documents of one tenant (last writer wins; for capture and seeding)."""

    async def put_docs_checked(
        self, tenant_id: str, family: str, writes: Sequence[tuple[dict[str, Any], str | None, bool]],
    ) -> list[str | None]:
        """Many writes, each bound like put_doc: (doc, if_match, create_only), applied in order.
        Returns, per write, the new ETag if it landed or None if refused (conflict / already there).

        Default: one put_doc each, since a network store offers no cross-document transaction;
        SQLite does them in one transaction (capture writes hundreds of merged contacts a batch).
        """
        out: list[str | None] = []
        for doc, if_match, create_only in writes:
            try:
                out.append(await self.put_doc(tenant_id, family, doc, if_match=if_match, create_only=create_only))
            except (Conflict, AlreadyExists):
                out.append(None)
        return out

    @abc.abstractmethod
    async def delete_doc(self, tenant_id: str, family: str, doc_id: str) -> None: ...

    @abc.abstractmethod
    async def find_docs(
        self, tenant_id: str, family: str, doc_type: str, *, key: str | None = None,
        at_from: str | None = None, at_to: str | None = None, desc: bool = False, limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Documents of a type, optionally having `key` in ixKeys, with at_from <= ixAt < at_to,
        ordered by ixAt (then id), one page at a time."""

    @abc.abstractmethod
    async def list_tenant_ids(self) -> list[str]:
        """The onboarded tenants (a directory kept by put_tenant; system jobs iterate it)."""

    @abc.abstractmethod
    async def purge_tenant(self, tenant_id: str) -> int:
        """Delete every document of a tenant (offboarding). Returns how many."""


# --- loading: a stored document that does not load is skipped, never a failed page ---------------
# A document written before text was cleaned at the boundary (rapport.text) may hold a lone
# surrogate (the JSON escape \ud800, which pydantic's parser refuses and UTF-8 cannot encode) or fields
# that no longer validate. One such record must not take down every page that reads it, nor stall a
# sync round: it reads as missing (a point read) or is left out (a list), with one alert naming it.


def _skipped(cls: type[Record], record_id: Any, error: Exception) -> None:
    # The id and family only: the document's text may be a mail subject or a note. The id is
    # cleaned too: it may be the very value that broke the document.
    rid = clean(str(record_id), multiline=False)
    log.error("skipped a stored %s record that does not load (%s): %s", cls.family, type(error).__name__,
              rid, extra={"alert": True, "family": cls.family, "record_id": rid})


def _id_in(text: str) -> str:
    try:
        doc = json.loads(text)  # the standard parser accepts the lone surrogate escapes pydantic's refuses
        return str(doc.get("id")) if isinstance(doc, dict) else "?"
    except ValueError:
        return "?"


def _load(cls: type[R], doc: dict[str, Any] | None) -> R | None:
    if doc is None:
        return None
    try:
        # A document a backend hands over as a dict (Cosmos) was parsed by the standard JSON parser,
        # which lets lone surrogates through: they would fail the answer that shows the record.
        to_json(doc)
        record = cls.model_validate(doc)
    except (ValidationError, PydanticSerializationError, ValueError) as exc:
        _skipped(cls, doc.get("id"), exc)
        return None
    record.etag = doc.get("_etag")
    return record


def _load_text(cls: type[R], text: str, etag: str, record_id: str | None = None) -> R | None:
    try:
        record = cls.model_validate_json(text)  # the stored document's extra fields (docType, ixKeys) are ignored
    except ValidationError as exc:
        _skipped(cls, record_id or _id_in(text), exc)
        return None
    record.etag = etag
    return record


def _load_row(cls: type[R], row: tuple[str, str, str] | None, record_id: str | None = None) -> R | None:
    """A point read's (doc type, JSON text, etag): the record, or None if missing, of another type,
    or not loadable."""
    return None if row is None or row[0] != cls.doc_type else _load_text(cls, row[1], row[2], record_id)


def _loaded(records: Iterable[R | None]) -> list[R]:
    return [r for r in records if r is not None]


def _encodes(record: Record) -> bool:
    try:
        record.model_dump_json()
        return True
    except PydanticSerializationError:
        return False


# --- writing: nothing stored can fail a later read ------------------------------------------------


def _storable_doc(record: Record) -> tuple[dict[str, Any], Record]:
    """record.to_doc(), and the record it stores. Text should have been cleaned where it entered
    (rapport.text.clean); a value that was not and cannot be encoded as UTF-8 JSON (a lone
    surrogate) is cleaned here with the same function, with an alert, rather than stored broken."""
    doc = record.to_doc()
    try:
        to_json(doc)
    except PydanticSerializationError:
        return _repaired(record)
    return doc, record


def _repaired(record: R) -> tuple[dict[str, Any], R]:
    rid = clean(record.id, multiline=False)
    log.error("cleaned a %s record holding text that cannot be stored: %s", record.family, rid,
              extra={"alert": True, "family": record.family, "record_id": rid})
    fixed = type(record).model_validate(clean_json(record.model_dump(mode="json")))
    fixed.etag = record.etag
    return fixed.to_doc(), fixed


class Store:
    """Domain operations for system jobs (capture, timers). Request handlers use `ScopedStore(store, tenant, viewer)`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def name(self) -> str:
        return self.backend.name

    async def open(self) -> Store:
        await self.backend.open()
        return self

    async def close(self) -> None:
        await self.backend.close()

    # --- generic ---------------------------------------------------------------------------

    async def get(self, cls: type[R], tenant_id: str, record_id: str) -> R | None:
        if self.backend.stores_text:
            return _load_row(cls, await self.backend.get_text(tenant_id, cls.family, record_id), record_id)
        doc = await self.backend.get_doc(tenant_id, cls.family, record_id)
        if doc is not None and doc.get("docType") != cls.doc_type:
            return None
        return _load(cls, doc)

    async def put(self, record: R, *, if_match: str | None = None, create_only: bool = False) -> R:
        """Write a record. With `if_match` the write lands only over that ETag, else Conflict."""
        doc, stored = _storable_doc(record)
        record.etag = await self.backend.put_doc(
            record.tenantId, record.family, doc, if_match=if_match, create_only=create_only
        )
        if stored is not record:
            stored.etag = record.etag
        return stored  # type: ignore[return-value]

    async def put_checked(self, writes: Sequence[tuple[R, str | None, bool]]) -> list[R]:
        """Write records of one tenant and family, each bound to an ETag (`if_match`) or create-only.
        Returns the records that were refused (someone else wrote first); the others carry their
        new ETag. The caller re-reads and re-applies the refused ones."""
        if not writes:
            return []
        first = writes[0][0]
        if any(r.tenantId != first.tenantId or r.family != first.family for r, _, _ in writes):
            raise ValueError("put_checked writes one tenant's records of one family")
        result = await self.backend.put_docs_checked(
            first.tenantId, first.family, [(_storable_doc(r)[0], m, c) for r, m, c in writes]
        )
        refused = []
        for (record, _, _), etag in zip(writes, result, strict=True):
            if etag is None:
                refused.append(record)
            else:
                record.etag = etag
        return refused

    async def put_many(self, records: Iterable[Record]) -> int:
        """Bulk upsert, grouped by tenant and family. Returns how many were written."""
        groups: dict[tuple[str, str], list[Record]] = {}
        for r in records:
            groups.setdefault((r.tenantId, r.family), []).append(r)
        for (tenant_id, family), group in groups.items():
            try:
                await self.backend.put_records(tenant_id, family, group)
            except PydanticSerializationError:
                # A record pydantic cannot serialise (a lone surrogate that skipped the boundary):
                # the backend serialises the whole group before writing any, so write it cleaned.
                await self.backend.put_records(tenant_id, family,
                                               [r if _encodes(r) else _repaired(r)[1] for r in group])
        return sum(len(g) for g in groups.values())

    async def update(
        self, cls: type[R], tenant_id: str, record_id: str, change: Callable[[R], R | None],
        *, attempts: int = 8,
    ) -> R | None:
        """Read, apply `change`, write bound to the ETag read; on a conflict re-read and re-apply.

        `change` must be a pure function of the record it is given (it may run more than once).
        Returns the stored result, or None if the record does not exist or `change` returned None.
        """
        for _ in range(attempts):
            current = await self.get(cls, tenant_id, record_id)
            if current is None:
                return None
            etag = current.etag
            changed = change(current.model_copy(deep=True))
            if changed is None:
                return None
            try:
                return await self.put(changed, if_match=etag)
            except Conflict:
                continue
        raise Conflict(await self.get(cls, tenant_id, record_id))

    async def find(
        self, cls: type[R], tenant_id: str, *, key: str | None = None, since: datetime | str | None = None,
        until: datetime | str | None = None, newest_first: bool = False, limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        args = dict(key=key, at_from=since if isinstance(since, str) or since is None else iso(since),
                    at_to=until if isinstance(until, str) or until is None else iso(until),
                    desc=newest_first, limit=limit, cursor=cursor)
        if self.backend.stores_text:
            rows, nxt = await self.backend.find_texts(tenant_id, cls.family, cls.doc_type, **args)
            return Page(_loaded(_load_text(cls, text, etag) for text, etag in rows), nxt)
        docs, nxt = await self.backend.find_docs(tenant_id, cls.family, cls.doc_type, **args)
        return Page(_loaded(_load(cls, d) for d in docs), nxt)

    async def find_all(self, cls: type[R], tenant_id: str, **kw: Any) -> list[R]:
        """Every page of a find. Only for bounded sets (walls, people, a day's meetings)."""
        out: list[R] = []
        cursor = None
        while True:
            page = await self.find(cls, tenant_id, cursor=cursor, limit=500, **kw)
            out.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                return out

    async def read_many(self, tenant_id: str, reads: Sequence[Read]) -> list[Any]:
        """Several reads of one tenant issued together: one round trip's latency on a networked
        backend (they run concurrently). Each result is the record or None (point read) or a list."""

        async def one(r: Read) -> Any:
            if r.record_id is not None:
                return await self.get(r.cls, tenant_id, r.record_id)
            if r.every:
                return await self.find_all(r.cls, tenant_id, key=r.key, since=r.since, until=r.until)
            page = await self.find(r.cls, tenant_id, key=r.key, since=r.since, until=r.until,
                                   newest_first=r.newest_first, limit=r.limit)
            return page.items

        if self.backend.stores_text:  # the whole batch in one call; each text validated in one step
            out: list[Any] = []
            for r, got in zip(reads, await self.backend.read_texts(tenant_id, reads), strict=True):
                out.append(_load_row(r.cls, got, r.record_id) if r.record_id is not None
                           else _loaded(_load_text(r.cls, text, etag) for text, etag in got))
            return out
        if not self.backend.concurrent_reads:
            return [await one(r) for r in reads]
        return list(await asyncio.gather(*(one(r) for r in reads)))

    async def delete(self, cls: type[Record], tenant_id: str, record_id: str) -> None:
        await self.backend.delete_doc(tenant_id, cls.family, record_id)

    async def ping(self) -> None:
        await self.backend.ping()

    # --- tenants and people ----------------------------------------------------------------

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return await self.get(Tenant, tenant_id, tenant_id)

    async def put_tenant(self, tenant: Tenant) -> Tenant:
        return await self.put(tenant)

    async def list_tenants(self) -> list[Tenant]:
        out = []
        for tid in await self.backend.list_tenant_ids():
            t = await self.get_tenant(tid)
            if t is not None:
                out.append(t)
        return out

    async def get_person(self, tenant_id: str, oid: str) -> Person | None:
        return await self.get(Person, tenant_id, oid)

    async def person_by_upn(self, tenant_id: str, upn: str) -> Person | None:
        page = await self.find(Person, tenant_id, key=f"upn:{upn.lower()}", limit=1)
        return page.items[0] if page.items else None

    async def people(self, tenant_id: str) -> list[Person]:
        return await self.find_all(Person, tenant_id)

    # --- relationships ---------------------------------------------------------------------

    async def contact_by_email(self, tenant_id: str, email: str) -> Contact | None:
        return await self.get(Contact, tenant_id, contact_id(email))

    async def contacts_of_account(self, tenant_id: str, acct_id: str, limit: int = 100) -> list[Contact]:
        return (await self.find(Contact, tenant_id, key=f"acct:{acct_id}", newest_first=True, limit=limit)).items

    async def interactions_for_contact(
        self, tenant_id: str, cid: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page:
        """A contact's interactions, newest first, a page at a time."""
        return await self.find(Interaction, tenant_id, key=f"ct:{cid}", newest_first=True, limit=limit, cursor=cursor)

    async def meetings_between(
        self, tenant_id: str, start: datetime, end: datetime, *, organizer_oid: str | None = None,
        contact: str | None = None,
    ) -> list[Meeting]:
        """Meetings starting in [start, end), earliest first."""
        key = f"org:{organizer_oid}" if organizer_oid else (f"ct:{contact}" if contact else None)
        return await self.find_all(Meeting, tenant_id, key=key, since=start, until=end)

    async def drafts_by_state(self, tenant_id: str, state: str, *, owner_oid: str | None = None) -> list[Draft]:
        key = f"owner-state:{owner_oid}:{state}" if owner_oid else f"state:{state}"
        return await self.find_all(Draft, tenant_id, key=key)

    async def matters_of_account(self, tenant_id: str, acct_id: str) -> list[Matter]:
        return await self.find_all(Matter, tenant_id, key=f"acct:{acct_id}")

    async def open_pipeline(self, tenant_id: str, acct_id: str) -> list[Enquiry | Opportunity]:
        key = f"acct:{acct_id}:open"
        enquiries = await self.find_all(Enquiry, tenant_id, key=key)
        opportunities = await self.find_all(Opportunity, tenant_id, key=key)
        return [*enquiries, *opportunities]

    async def signals_for_contact(self, tenant_id: str, cid: str, limit: int = 10) -> list[Signal]:
        return (await self.find(Signal, tenant_id, key=f"ct:{cid}", newest_first=True, limit=limit)).items

    async def walls(self, tenant_id: str) -> list[Wall]:
        return await self.find_all(Wall, tenant_id)

    async def audit(self, event: AuditEvent) -> AuditEvent:
        return await self.put(event, create_only=True)

    # --- work after the answer -------------------------------------------------------------

    async def due_work(self, tenant_id: str, now: datetime | None = None, limit: int = 50) -> list[WorkItem]:
        page = await self.find(WorkItem, tenant_id, key="state:queued", until=iso(now or utcnow()) + "~",
                               limit=limit)
        return page.items

    async def work_in_state(self, tenant_id: str, state: str, limit: int = 50) -> Page:
        """A tenant's work items in `state` (queued, done, dead), earliest due first: the admin's listing."""
        return await self.find(WorkItem, tenant_id, key=f"state:{state}", limit=limit)

    async def settle_work(
        self, item: WorkItem, *, error: str | None = None, retry_at: datetime | None = None, max_attempts: int = 5
    ) -> WorkItem | None:
        """Mark a work item done, or count a failed attempt; after max_attempts it is parked as dead."""

        def change(w: WorkItem) -> WorkItem:
            if error is None:
                w.state = "done"
                w.lastError = None
                return w
            w.attempts += 1
            w.lastError = error[:500]
            if w.attempts >= max_attempts:
                w.state = "dead"
            elif retry_at is not None:
                w.notBefore = retry_at
            return w

        return await self.update(WorkItem, item.tenantId, item.id, change)
