"""The Cloudflare boundary: the only module that imports the `cloudflare` SDK (and so httpx and
pydantic). The CLI imports it only when a change or a reconcile is needed.

Every SDK, httpx and JSON failure is mapped here to `pi_ddns.errors`; no message we raise
carries the token, and no SDK exception is chained (`from None`), so a traceback cannot leak
request headers either.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

import cloudflare

from pi_ddns import errors
from pi_ddns.decide import Record, RecordId, ZoneId

# If set, these silently replace the bearer token inside the SDK.
_HOSTILE_ENV = ("CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY")
# Invalid/unknown token, missing permission, malformed Authorization header.
_AUTH_CODES = frozenset({6003, 6111, 9103, 9106, 9109, 10000})
_EXISTS_CODES = frozenset({81057, 81058})
_GONE_CODES = frozenset({81044})
_BAD_ID_CODES = frozenset({7000, 7003})  # "Could not route ... object identifier is invalid"
_GRANT = "Zone > Zone > Read and Zone > DNS > Edit"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOT_JSON = "the answer was not Cloudflare's JSON (an error page from a proxy or an outage?)"
_T = TypeVar("_T")


class CloudflareApi:
    """Four calls, each exactly one HTTP request (plus the SDK's own retries, `retries`)."""

    def __init__(self, token: str, api_url: str, timeout: float, retries: int) -> None:
        for var in _HOSTILE_ENV:
            os.environ.pop(var, None)
        # The SDK and httpx log request lines at INFO/DEBUG (CLOUDFLARE_LOG=debug turns on
        # more); keep them out of the journal.
        for name in ("cloudflare", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._token = token
        self._timeout = timeout
        # httpx's timeout is per operation (connect, each read): an answer dripped byte by byte
        # never trips it. One deadline per call covers every try, the SDK's backoff and the
        # Retry-After it honours (at most 60 s).
        self._deadline = (retries + 1) * 2 * timeout + retries * 60.0 + 1.0
        self._zones: dict[ZoneId, str] = {}
        self._asked = ""
        # The address sources' TLS context (CA certificates looked up lazily in the hashed
        # system directory): httpx's default parses certifi's whole bundle, 0.65 s of CPU per
        # API run on an emulated Pi 1.
        from pi_ddns.detect import tls_context

        self._client = cloudflare.Cloudflare(
            api_token=token, base_url=api_url, timeout=timeout, max_retries=retries,
            http_client=cloudflare.DefaultHttpxClient(verify=tls_context()),
        )
        # A retried POST after a timeout can create a duplicate: creates are never retried by
        # the SDK; the next run lists and adopts what the lost answer created.
        self._create_client = self._client.with_options(max_retries=0)

    def close(self) -> None:
        self._client.close()

    def zone_id(self, name: str) -> ZoneId:
        what = f"looking up zone {name}"
        self._asked = name  # named in an auth error before any zone id is known
        query = {"name": name, "per_page": 50}
        page = _envelope(self._call(what, lambda: self._client.get(
            "/zones", options={"params": query}, cast_to=object)), what)
        zones = _page_items(page, what)
        for zone in zones:
            if _get(zone, "name") == name.lower().rstrip("."):
                zid = _get(zone, "id")
                if isinstance(zid, str) and _ID.fullmatch(zid):
                    self._zones[ZoneId(zid)] = name
                    return ZoneId(zid)
                raise errors.TransientError(f"Cloudflare API: {what}: the zone has no valid id")
        raise errors.ZoneNotFound(
            f"zone {name}: not found by Cloudflare for this token; check the zone name and "
            f"that the token's permissions ({_GRANT}) include this zone"
        )

    def list_records(self, zone_id: ZoneId, name: str, rtype: str | None) -> list[Record]:
        """Records at exactly `name` (any type when `rtype` is None), first page only."""
        what = f"listing {rtype or 'all'} records at {name}"
        zid = self._zone_arg(zone_id, what)
        query: dict[str, Any] = {"name.exact": name, "per_page": 100}
        if rtype is not None:
            query["type"] = rtype
        path = f"/zones/{zid}/dns_records"
        page = _envelope(self._call(what, lambda: self._client.get(
            path, options={"params": query}, cast_to=object)), what)
        records = [_record(item, what) for item in _page_items(page, what)]
        # Defensive: never act on a record the filter should not have returned.
        want = name.lower().rstrip(".")
        return [r for r in records if r.name.lower() == want and (rtype is None or r.type == rtype)]

    def create_record(
        self,
        zone_id: ZoneId,
        name: str,
        rtype: str,
        content: str,
        *,
        comment: str,
        ttl: int | None,
        proxied: bool | None,
    ) -> Record:
        what = f"creating {rtype} {name}"
        zid = self._zone_arg(zone_id, what)
        body: dict[str, Any] = {
            "name": name,
            "type": rtype,
            "content": content,
            "comment": comment,
        }
        if ttl is not None:
            body["ttl"] = ttl
        if proxied is not None:
            body["proxied"] = proxied
        path = f"/zones/{zid}/dns_records"
        answer = _envelope(self._call(
            what, lambda: self._create_client.post(path, body=body, cast_to=object)), what)
        return _same_record(_record(answer.get("result"), what), what, name=name, rtype=rtype)

    def update_record(
        self,
        zone_id: ZoneId,
        record_id: RecordId,
        *,
        content: str,
        comment: str | None = None,
        ttl: int | None = None,
        proxied: bool | None = None,
    ) -> Record:
        """PATCH only the given fields: proxied, TTL, tags and the rest stay as they are.

        The SDK's typed `edit()` requires name and type in the body, so this uses its
        low-level `patch()` to send exactly these fields."""
        what = f"updating record {record_id}"
        zid = self._zone_arg(zone_id, what)
        if not _ID.fullmatch(record_id):
            raise errors.RecordGone(f"Cloudflare API: {what}: not a valid record id")
        body: dict[str, object] = {"content": content}
        if comment is not None:
            body["comment"] = comment
        if ttl is not None:
            body["ttl"] = ttl
        if proxied is not None:
            body["proxied"] = proxied
        path = f"/zones/{zid}/dns_records/{record_id}"
        answer = self._call(
            what, lambda: self._client.patch(path, body=body, cast_to=object), record=True
        )
        if not isinstance(answer, dict):  # the SDK hands back the text of a non-JSON body
            raise errors.TransientError(f"Cloudflare API: {what}: {_NOT_JSON}")
        return _same_record(_record(answer.get("result"), what), what, record_id=record_id)

    # ---- the boundary ------------------------------------------------------------------
    def _zone_arg(self, zone_id: ZoneId, what: str) -> str:
        if not _ID.fullmatch(zone_id):
            # a damaged state file: look the zone up by name rather than fail every run
            raise errors.ZoneGone(f"Cloudflare API: {what}: not a valid zone id: {zone_id!r}")
        return zone_id

    def _call(self, what: str, call: Callable[[], _T], *, record: bool = False) -> _T:
        try:
            return self._bounded(what, call)
        except cloudflare.APIError as err:
            raise self._mapped(err, what, record=record) from None
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            # A 200 with an HTML body or broken JSON: the SDK returns the text where a model
            # was expected (AttributeError/TypeError) or json raises (JSONDecodeError).
            raise errors.TransientError(
                f"Cloudflare API: {what}: {_NOT_JSON} ({type(err).__name__})"
            ) from None

    def _bounded(self, what: str, call: Callable[[], _T]) -> _T:
        """call() in a worker thread, given up after the deadline (a daemon thread: a hung
        request cannot keep the process alive)."""
        import threading

        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as err:  # noqa: BLE001 -- re-raised in the caller's thread
                outcome.append((False, err))

        worker = threading.Thread(target=run, name="pi-ddns-api", daemon=True)
        worker.start()
        worker.join(self._deadline)
        if not outcome:
            raise errors.TransientError(
                f"Cloudflare API: {what}: no complete answer within {self._deadline:g} s"
            )
        ok, value = outcome[0]
        if not ok:
            raise value
        return cast(_T, value)

    def _mapped(  # noqa: PLR0911 -- one return per mapped case reads best
        self, err: cloudflare.APIError, what: str, *, record: bool
    ) -> errors.DdnsError:
        prefix = f"Cloudflare API: {what}"
        if isinstance(err, cloudflare.APITimeoutError):
            return errors.TransientError(f"{prefix}: timed out after {self._timeout:g} s")
        if isinstance(err, cloudflare.APIConnectionError):
            cause = self._scrub(str(err.__cause__ or err))
            return errors.TransientError(f"{prefix}: cannot connect: {cause}")
        if isinstance(err, cloudflare.APIResponseValidationError):
            return errors.TransientError(f"{prefix}: the answer did not match Cloudflare's schema")
        if not isinstance(err, cloudflare.APIStatusError):
            return errors.DdnsError(f"{prefix}: {self._scrub(err.message)}")
        status = err.status_code
        codes = {e.code for e in err.errors if isinstance(getattr(e, "code", None), int)}
        detail = f"HTTP {status}{self._detail(err)}"
        if status in (401, 403) or codes & _AUTH_CODES:
            zone = ", ".join(sorted({*self._zones.values(), self._asked} - {""})) or "the zone"
            return errors.AuthError(
                f"{prefix}: the API token was refused ({detail}); create or fix a token with "
                f"{_GRANT} permissions for {zone}"
            )
        if status == 429:
            retry_after = err.response.headers.get("Retry-After")
            wait = f", Retry-After {self._scrub(retry_after)} s" if retry_after else ""
            return errors.TransientError(f"{prefix}: rate limited ({detail}{wait})")
        if status >= 500:
            return errors.TransientError(f"{prefix}: Cloudflare server error ({detail})")
        if codes & _EXISTS_CODES:
            return errors.RecordExists(f"{prefix}: the record already exists ({detail})")
        if record and (status == 404 or codes & (_GONE_CODES | _BAD_ID_CODES)):
            return errors.RecordGone(f"{prefix}: the record no longer exists ({detail})")
        if codes & _BAD_ID_CODES:
            # Outside a record call: the cached zone id is stale (zone deleted or moved); the
            # updater looks the zone up by name again.
            return errors.ZoneGone(f"{prefix}: the zone id no longer exists ({detail})")
        if status in (408, 409):
            return errors.TransientError(f"{prefix}: {detail}")
        return errors.DdnsError(f"{prefix}: request refused ({detail})")

    def _detail(self, err: cloudflare.APIStatusError) -> str:
        parts = [
            f"{getattr(e, 'code', '?')} {getattr(e, 'message', '')}".strip() for e in err.errors
        ]
        if not parts:
            return ", not a Cloudflare JSON answer" if not isinstance(err.body, dict) else ""
        return ": " + self._scrub("; ".join(parts))

    def _scrub(self, text: str) -> str:
        """One line, bounded, and never the token (even if a server echoed it)."""
        text = " ".join(str(text).split())[:200]
        return text.replace(self._token, "<token>") if self._token else text


def _envelope(answer: object, what: str) -> dict[str, Any]:
    """The JSON envelope of a low-level call (no SDK models: a DNS edit then never loads the
    SDK's zone and DNS resource and type modules, about half of a cold run's CPU)."""
    if not isinstance(answer, dict):  # the SDK hands back the text of a non-JSON body
        raise errors.TransientError(f"Cloudflare API: {what}: {_NOT_JSON}")
    return answer


def _get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _page_items(page: object, what: str) -> list[object]:
    items = _get(page, "result")
    if not isinstance(items, list):
        _bad_answer(what)
    return items


def _record(obj: object, what: str) -> Record:
    """A record from the SDK's model or a raw JSON dict; anything malformed is refused."""
    rid, name, rtype, content = (_get(obj, k) for k in ("id", "name", "type", "content"))
    ttl, proxied, comment, tags = (_get(obj, k) for k in ("ttl", "proxied", "comment", "tags"))
    if not (
        isinstance(rid, str)
        and isinstance(name, str)
        and isinstance(rtype, str)
        and isinstance(content, str)
        and rid
        and name
        and rtype
    ):
        _bad_answer(what)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        _bad_answer(what)
    if not isinstance(proxied, bool | None) or not isinstance(comment, str | None):
        _bad_answer(what)
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        _bad_answer(what)
    return Record(
        id=RecordId(rid),
        name=name,
        type=rtype,
        content=content,
        ttl=int(ttl),
        proxied=bool(proxied),
        comment=comment,
        tags=tuple(tags),
    )


def _same_record(
    rec: Record,
    what: str,
    *,
    record_id: str | None = None,
    name: str | None = None,
    rtype: str | None = None,
) -> Record:
    """A write's answer must describe the record written: the updater caches its id, and a
    foreign id would aim the next PATCH at a record it does not own."""
    if (
        (record_id is not None and rec.id != record_id)
        or (name is not None and rec.name.lower().rstrip(".") != name.lower().rstrip("."))
        or (rtype is not None and rec.type != rtype)
    ):
        raise errors.TransientError(
            f"Cloudflare API: {what}: the answer is about another record; not trusting it"
        )
    return rec


def _bad_answer(what: str) -> NoReturn:
    raise errors.TransientError(f"Cloudflare API: {what}: the answer had no valid record data")
