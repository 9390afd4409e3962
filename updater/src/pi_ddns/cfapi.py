"""The Cloudflare API client: the only module that imports the `cloudflare` SDK (and so httpx
and pydantic). update and remove import it only when they need the API.

Every SDK, httpx and JSON failure is mapped here to `pi_ddns.errors`; no message we raise
carries the token, and no SDK exception is chained (`from None`), so a traceback cannot leak
request headers either.

A 429 (Cloudflare's rate limit: 1,200 requests per 5 minutes per user, all tokens together) is
waited out here, for every call: the wait Cloudflare's `Retry-After` asks for, as long as it fits
in the run's deadline; without a usable Retry-After, RATE_LIMIT_WAIT a few times. Else 75.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

import cloudflare
import httpx
from cloudflare._types import RequestOptions

from pi_ddns import dnsquery, errors, report
from pi_ddns.decide import Record, RecordId, Zone, ZoneId, same_address
from pi_ddns.state import canonical_name, has_marker

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
_PER_PAGE = 100
_MAX_PAGES = 50  # 5000 records at one name: far beyond any home; a loop guard
RATE_LIMIT_WAIT = 1.0  # seconds to wait after a 429 without a usable Retry-After (or below it)
RATE_LIMIT_BLIND = 3  # 429s without a usable Retry-After waited out, per call
_NO_DEADLINE_WAIT = 60.0  # seconds of 429 waits per call when no run deadline is set
_RETRY_AFTER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?\Z")


class CloudflareApi:
    """Six calls, each one HTTP request per page (plus the SDK's own retries, `retries`, and
    the waits of a 429).

    Every answer is read from the raw JSON envelope: `success` must be true with no `errors`,
    and every record is checked field by field (`_record`) before anything acts on it."""

    def __init__(self, token: str, api_url: str, timeout: float, retries: int,  # noqa: PLR0917
                 deadline: float | None = None, budget: float = 0.0) -> None:
        for var in _HOSTILE_ENV:
            os.environ.pop(var, None)
        # The SDK and httpx log request lines at INFO/DEBUG (CLOUDFLARE_LOG=debug turns on
        # more); keep them out of the journal.
        for name in ("cloudflare", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._token = token
        self._timeout = timeout
        self._api_url = api_url
        # httpx's timeout is per operation (connect, each read): an answer dripped byte by byte
        # never trips it. One deadline per call covers every try, the SDK's backoff and the
        # Retry-After it honours (at most 60 s); the run's own deadline (time.monotonic())
        # caps them all, so the calls share one budget below the unit's TimeoutStartSec.
        self._per_call = (retries + 1) * 2 * timeout + retries * 60.0 + 1.0
        self._run_deadline = deadline
        self._budget = budget
        self._zones: dict[ZoneId, str] = {}
        self._asked = ""
        # pi-ddns ignores HTTP(S)_PROXY/ALL_PROXY everywhere (the IP sources never used them):
        # one rule for both, and the token never goes through a proxy nobody configured here.
        # The IP sources' TLS context too (CA certificates looked up lazily in the hashed system
        # directory): httpx's default parses certifi's whole bundle, 0.65 s of CPU per API run
        # on an emulated Pi 1.
        from pi_ddns.httpclient import tls_context

        http = cloudflare.DefaultHttpxClient(trust_env=False, verify=tls_context())
        self.requests = 0  # HTTP requests sent, the SDK's retries included (for the metrics)
        http.event_hooks = {"request": [self._count], "response": [_no_sdk_retry_on_429]}
        self._client = cloudflare.Cloudflare(
            api_token=token, base_url=api_url, timeout=timeout, max_retries=retries,
            http_client=http,
        )
        # A retried POST after a timeout can create a duplicate: creates are never retried by
        # the SDK; the next run lists and adopts what the lost answer created.
        self._create_client = self._client.with_options(max_retries=0)

    def _count(self, _request: object) -> None:
        self.requests += 1

    def close(self) -> None:
        self._client.close()

    def zone(self, name: str) -> Zone:
        """The zone `name` whose status is active: its id and nameservers (one request); a
        pending, moved or deactivated zone of that name is refused (78) and nothing is
        written to it."""
        what = f"looking up zone {name}"
        self._asked = name  # named in an auth error before any zone id is known
        answer = self._request("get", what, "/zones", query={"name": name, "per_page": 50})
        want = canonical_name(name)
        found = [z for z in _items(answer, what)
                 if isinstance(z, dict) and isinstance(z.get("name"), str)
                 and canonical_name(z["name"]) == want]
        for zone in found:
            if zone.get("status") == "active":
                zid = zone.get("id")
                if isinstance(zid, str) and _ID.fullmatch(zid):
                    self._zones[ZoneId(zid)] = name
                    return Zone(ZoneId(zid), _name_servers(zone.get("name_servers")))
                raise errors.TransientError(f"Cloudflare API: {what}: the zone has no valid id")
        if found:
            states = ", ".join(sorted({self._scrub(repr(z.get("status"))) for z in found}))
            raise errors.ZoneNotActive(
                f"zone {name} is not active at Cloudflare (status {states}); pi-ddns writes "
                "only to an active zone: finish the zone's setup (name servers) in the "
                "dashboard, or fix the zone name"
            )
        raise errors.ZoneNotFound(
            f"zone {name}: not found by Cloudflare for this token; check the zone name and "
            f"that the token's permissions ({_GRANT}) include this zone"
        )

    def list_records(self, zone_id: ZoneId, name: str, rtype: str | None) -> list[Record]:
        """Records at exactly `name` (any type when `rtype` is None), every page of them."""
        what = f"listing {rtype or 'all'} records at {name}"
        zid = self._zone_arg(zone_id, what)
        query: dict[str, object] = {"name.exact": name, "per_page": _PER_PAGE}
        if rtype is not None:
            query["type"] = rtype
        records: list[Record] = []
        for page in range(1, _MAX_PAGES + 1):
            answer = self._request("get", what, f"/zones/{zid}/dns_records",
                                   query={**query, "page": page})
            items = _items(answer, what)
            records += [_record(item, what) for item in items]
            info = answer.get("result_info")
            pages = info.get("total_pages") if isinstance(info, dict) else None
            if not isinstance(pages, int) or isinstance(pages, bool) or page >= pages \
                    or not items:
                break
        else:
            raise errors.TransientError(f"Cloudflare API: {what}: more than {_MAX_PAGES} pages")
        # Defensive: never act on a record the filter should not have returned.
        want = canonical_name(name)
        return [r for r in records
                if canonical_name(r.name) == want and (rtype is None or r.type == rtype)]

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
        body: dict[str, object] = {"name": name, "type": rtype, "content": content,
                                   "comment": comment}
        if ttl is not None:
            body["ttl"] = ttl
        if proxied is not None:
            body["proxied"] = proxied
        answer = self._request("post", what, f"/zones/{zid}/dns_records", body=body)
        return _record(answer.get("result"), what)

    def update_record(
        self,
        zone_id: ZoneId,
        record_id: RecordId,
        *,
        content: str | None,
        comment: str | None = None,
        ttl: int | None = None,
        proxied: bool | None = None,
        name: str | None = None,
        rtype: str | None = None,
    ) -> Record:
        """PATCH only the given fields: proxied, TTL, tags and the rest stay as they are.
        (`name` and `type` only to put a record back as it was.)"""
        what = f"updating record {record_id}"
        zid = self._zone_arg(zone_id, what)
        if not _ID.fullmatch(record_id):
            raise errors.RecordGone(f"Cloudflare API: {what}: not a valid record id")
        body: dict[str, object] = {}
        for key, value in (("name", name), ("type", rtype), ("content", content),
                           ("comment", comment), ("ttl", ttl), ("proxied", proxied)):
            if value is not None:
                body[key] = value
        answer = self._request("patch", what, f"/zones/{zid}/dns_records/{record_id}",
                               body=body, record=True)
        return _record(answer.get("result"), what)

    def delete_record(self, zone_id: ZoneId, record_id: RecordId) -> None:
        """DELETE one record by id; the answer must name that id. RecordGone if it is gone
        already."""
        what = f"deleting record {record_id}"
        zid = self._zone_arg(zone_id, what)
        if not _ID.fullmatch(record_id):
            raise errors.TransientError(f"Cloudflare API: {what}: not a valid record id; "
                                        "nothing deleted")
        answer = self._request("delete", what, f"/zones/{zid}/dns_records/{record_id}",
                               record=True)
        result = answer.get("result")
        if not isinstance(result, dict) or result.get("id") != record_id:
            raise errors.TransientError(f"Cloudflare API: {what}: the answer does not name "
                                        "the record deleted; not trusting it")

    def restore_record(self, zone_id: ZoneId, before: Record, fields: tuple[str, ...]) -> None:
        """PATCH the given fields of a record back to what they were in `before` (a write
        that landed on it by mistake); the answer must show exactly that."""
        what = f"putting record {before.id} back as it was"
        zid = self._zone_arg(zone_id, what)
        body = {k: getattr(before, k) for k in fields}
        answer = self._request("patch", what, f"/zones/{zid}/dns_records/{before.id}",
                               body=body, record=True)
        now = _record(answer.get("result"), what)
        if now.id != before.id or not same_address(now.content, before.content) or any(
                getattr(now, k) != getattr(before, k) for k in fields if k != "content"):
            raise errors.TransientError(f"Cloudflare API: {what}: the answer does not show it "
                                        "as it was")

    # ---- the boundary ------------------------------------------------------------------
    def _zone_arg(self, zone_id: ZoneId, what: str) -> str:
        if not _ID.fullmatch(zone_id):
            # a damaged state file: look the zone up by name rather than fail every run
            raise errors.ZoneGone(f"Cloudflare API: {what}: not a valid zone id: {zone_id!r}")
        return zone_id

    def _request(self, method: str, what: str, path: str, *, query: dict[str, object] | None
                 = None, body: dict[str, object] | None = None,
                 record: bool = False) -> dict[str, Any]:
        """One call through the SDK's low-level client; returns the checked envelope."""
        options: RequestOptions = {"params": query} if query else {}
        client = self._create_client if method == "post" else self._client
        if method == "get":
            call: Callable[[], object] = lambda: client.get(path, cast_to=object,  # noqa: E731
                                                             options=options)
        elif method == "delete":
            call = lambda: client.delete(path, cast_to=object)  # noqa: E731
        else:
            send = getattr(client, method)
            call = lambda: send(path, body=body, cast_to=object)  # noqa: E731
        import time

        blind = 0  # 429s without a usable Retry-After so far
        until = (self._run_deadline if self._run_deadline is not None
                 else time.monotonic() + _NO_DEADLINE_WAIT)
        while True:
            try:
                answer = self._call(what, call, record=record)
            except errors.RateLimited as e:
                limited = e
            else:
                return _envelope(answer, what)
            if limited.retry_after is None:
                blind += 1
            self._wait_out(limited, what, blind, until)  # outside `except`: nothing chained

    def _wait_out(self, limited: errors.RateLimited, what: str, blind: int,
                  until: float) -> None:
        """Sleep as the 429 asks (a request refused with 429 was not carried out, so even a
        create is safe to send again), or raise a TransientError when the wait would not end
        before `until` (time.monotonic()), or after too many 429s without a Retry-After."""
        import time

        if blind > RATE_LIMIT_BLIND:
            raise errors.TransientError(
                f"{limited}; gave up after {RATE_LIMIT_BLIND + 1} tries without a usable "
                "Retry-After; the next run tries again")
        wait = max(limited.retry_after or 0.0, RATE_LIMIT_WAIT)
        asked = ("Retry-After" if limited.retry_after is not None
                 else "no usable Retry-After, so the default")
        remaining = until - time.monotonic()
        # the wait, then the request itself: leave it a second at least
        if wait + min(self._timeout, 1.0) >= remaining:
            raise errors.TransientError(
                f"{limited}; waiting {wait:g} s does not fit in what is left of the run's time "
                f"budget ({max(remaining, 0):.0f} s of run_timeout {self._budget:g} s); the next "
                "run tries again")
        report.notice(f"Cloudflare API: {what}: rate limited (HTTP 429); waiting {wait:g} s "
                      f"({asked}), then trying again")
        time.sleep(wait)

    def _call(self, what: str, call: Callable[[], _T], *, record: bool = False) -> _T:
        try:
            return self._bounded(what, call)
        except cloudflare.APIStatusError as err:
            raise self._mapped(err, what, record=record) from None
        except cloudflare.APIError as err:
            raise self._mapped(err, what, record=record) from None
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError,
                UnicodeError, httpx.HTTPError, httpx.InvalidURL) as err:
            # A 200 with an HTML body, broken or absurdly deep JSON, a numeric overflow:
            # the SDK's parsing fails. A malformed answer is transient (75), never a bug.
            raise errors.TransientError(
                f"Cloudflare API: {what}: {_NOT_JSON} ({type(err).__name__})"
            ) from None

    def _bounded(self, what: str, call: Callable[[], _T]) -> _T:
        """call() in a worker thread, given up after the deadline (a daemon thread: a hung
        request cannot keep the process alive)."""
        import threading
        import time

        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as err:  # noqa: BLE001 -- re-raised in the caller's thread
                outcome.append((False, err))

        wait, by_run = self._per_call, False
        if self._run_deadline is not None:
            left = self._run_deadline - time.monotonic()
            if left <= 0:
                raise errors.RunDeadline(
                    f"the run's time budget ({self._budget:g} s, run_timeout) ran out before "
                    f"{what}; the state is intact, the next run carries on")
            if left < wait:
                wait, by_run = left, True
        worker = threading.Thread(target=run, name="pi-ddns-api", daemon=True)
        worker.start()
        worker.join(wait)
        if not outcome:
            if by_run:
                raise errors.RunDeadline(
                    f"the run's time budget ({self._budget:g} s, run_timeout) ran out while "
                    f"{what}: the Cloudflare API was slow; the state is intact")
            raise errors.TransientError(
                f"Cloudflare API: {what}: no complete answer within {wait:g} s"
            )
        ok, value = outcome[0]
        if not ok:
            raise value
        return cast(_T, value)

    def _mapped(  # noqa: PLR0911 -- one return per mapped case reads best
        self, err: cloudflare.APIError, what: str, *, record: bool
    ) -> errors.DdnsError:
        """By what the answer means: transport trouble, 429 and 5xx are transient (75) whatever
        code the body carries; a refusal of the config's own values is 78 with Cloudflare's
        words; a refused token 77; a proxy or a refused request 69. 70 is left for bugs."""
        prefix = f"Cloudflare API: {what}"
        if isinstance(err, cloudflare.APITimeoutError):
            return errors.TransientError(f"{prefix}: timed out after {self._timeout:g} s")
        if isinstance(err, cloudflare.APIConnectionError):
            cause = self._scrub(str(err.__cause__ or err))
            return errors.TransientError(f"{prefix}: cannot connect: {cause}")
        if not isinstance(err, cloudflare.APIStatusError):
            return errors.TransientError(f"{prefix}: the answer did not match Cloudflare's "
                                         f"schema ({type(err).__name__})")
        status = err.status_code
        codes = {_code(e) for e in _errors_of(err)} - {None}
        detail = f"HTTP {status}{self._detail(err)}"
        if status == 429:
            retry_after = err.response.headers.get("Retry-After")
            wait = f", Retry-After {self._scrub(retry_after)} s" if retry_after else ""
            return errors.RateLimited(f"{prefix}: rate limited ({detail}{wait})",
                                      _seconds(retry_after))
        if status >= 500 or status in (408, 409, 425):
            return errors.TransientError(f"{prefix}: Cloudflare server error ({detail})")
        if status in (401, 403) or (status == 400 and codes & _AUTH_CODES):
            zone = ", ".join(sorted({*self._zones.values(), self._asked} - {""})) or "the zone"
            return errors.AuthError(
                f"{prefix}: the API token was refused ({detail}); create or fix a token with "
                f"{_GRANT} permissions for {zone}"
            )
        if codes & _EXISTS_CODES:
            return errors.RecordExists(f"{prefix}: the record already exists ({detail})")
        if record and (status == 404 or codes & (_GONE_CODES | _BAD_ID_CODES)):
            return errors.RecordGone(f"{prefix}: the record no longer exists ({detail})")
        if codes & _BAD_ID_CODES:
            # Outside a record call: the cached zone id is stale (zone deleted or moved); the
            # updater looks the zone up by name again.
            return errors.ZoneGone(f"{prefix}: the zone id no longer exists ({detail})")
        if status in (404, 405):
            return errors.ConfigError(
                f"{prefix}: no such API endpoint ({detail}); check cloudflare.api_url "
                f"({self._scrub(self._api_url)})")
        if status == 407:
            return errors.Unavailable(
                f"{prefix}: a proxy asked for credentials ({detail}); pi-ddns uses no proxy: "
                "the network must let it reach the API directly")
        if status in (400, 422):
            return errors.ConfigError(f"{prefix}: Cloudflare refused the configured values "
                                      f"({detail})")
        return errors.Unavailable(f"{prefix}: request refused ({detail})")

    def _detail(self, err: cloudflare.APIStatusError) -> str:
        parts = [
            f"{_code(e) or '?'} {_get(e, 'message') or ''}".strip()
            for e in _errors_of(err)
        ]
        if not parts:
            return ", not a Cloudflare JSON answer" if not isinstance(err.body, dict) else ""
        return ": " + self._scrub("; ".join(parts))

    def _scrub(self, text: str) -> str:
        """One line, bounded, and never the token (even if a server echoed it)."""
        text = " ".join(str(text).split())
        text = text.replace(self._token, "<token>") if self._token else text
        return report.safe(text, 200)


_MAX_NS = 16


def _name_servers(value: object) -> tuple[str, ...]:
    """The zone's nameservers that are host names or IP literals (at most _MAX_NS); anything
    else in the answer is left out, never used to send a query."""
    out: list[str] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, str) or len(item) > 253 or not item.isascii():
            continue
        name = item.lower().rstrip(".")
        try:
            name = str(ipaddress.ip_address(name))
        except ValueError:
            if not dnsquery.is_host_name(name):
                continue
        if name not in out:
            out.append(name)
    return tuple(out[:_MAX_NS])


def valid_id(text: str) -> bool:
    """An id fit to put in a URL path (Cloudflare's are 32 hex digits)."""
    return bool(_ID.fullmatch(text))


def _no_sdk_retry_on_429(response: httpx.Response) -> None:
    """The SDK would sleep on a 429 itself (up to 60 s, blind to the run's deadline): tell it
    not to retry; CloudflareApi._wait_out decides (httpx calls this on every answer)."""
    if response.status_code == 429:
        response.headers["x-should-retry"] = "false"


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (delay-seconds; a decimal fraction accepted), None if missing,
    an HTTP date (Cloudflare sends seconds) or garbage."""
    text = (retry_after or "").strip()
    return float(text) if _RETRY_AFTER.match(text) else None


def _get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _errors_of(err: cloudflare.APIStatusError) -> list[object]:
    """The `errors` of an error answer (the SDK's attribute, or the raw body's)."""
    found = getattr(err, "errors", None)
    if not found and isinstance(err.body, dict):
        found = err.body.get("errors")
    return list(found) if isinstance(found, list) else []


def _code(error: object) -> int | None:
    code = error.get("code") if isinstance(error, dict) else getattr(error, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _envelope(answer: object, what: str) -> dict[str, Any]:
    """Cloudflare's envelope, or a TransientError: a JSON object with `success: true`, no
    `errors` and a `result`. `success: true` next to errors is not a success."""
    if not isinstance(answer, dict):  # the SDK hands back the text of a non-JSON body
        raise errors.TransientError(f"Cloudflare API: {what}: {_NOT_JSON}")
    problems = answer.get("errors")
    if answer.get("success") is not True or problems not in (None, []) \
            or "result" not in answer:
        raise errors.TransientError(
            f"Cloudflare API: {what}: the answer is not a plain success (success "
            f"{str(answer.get('success'))[:10]!r} with errors); not trusting it")
    return answer


def _items(answer: dict[str, Any], what: str) -> list[object]:
    items = answer.get("result")
    if not isinstance(items, list):
        _bad_answer(what)
    return items


def _record(obj: object, what: str) -> Record:
    """A record from a raw JSON dict; anything malformed is refused (75)."""
    if not isinstance(obj, dict):
        _bad_answer(what)
    rid, name, rtype, content = (obj.get(k) for k in ("id", "name", "type", "content"))
    ttl, proxied, comment, tags = (obj.get(k) for k in ("ttl", "proxied", "comment", "tags"))
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
    # NaN, 1e999, 2.5 or 10**400 are not a TTL.
    if isinstance(ttl, float) and math.isfinite(ttl) and ttl.is_integer():
        ttl = int(ttl)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 2**31:
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
        ttl=ttl,
        proxied=bool(proxied),
        comment=comment,
        tags=tuple(tags),
    )


def check_written(rec: Record, what: str, *, record_id: str | None, name: str, rtype: str,
                  marker: str, content: str, proxied: bool | None = None,
                  ttl: int | None = None) -> Record:
    """A write's answer must describe the record asked for: same id (for a PATCH), name,
    type and ownership marker (else WrongRecord: 65, the caller restores), and the content,
    proxied and TTL sent (else TransientError: the write is neither reported nor cached; the
    TTL of a proxied record is Cloudflare's own)."""
    if ((record_id is not None and rec.id != record_id)
            or canonical_name(rec.name) != canonical_name(name)
            or rec.type != rtype or not has_marker(rec.comment, marker)):
        raise errors.WrongRecord(rec.id,
            f"Cloudflare API: {what}: the answer is about another record "
            f"({report.safe(rec.type, 10)} {report.safe(rec.name, 100)}, id "
            f"{report.safe(rec.id, 64)}) than {rtype} {name}"
            + (f" ({record_id})" if record_id else ""))
    if not same_address(rec.content, content):
        raise errors.TransientError(
            f"Cloudflare API: {what}: the answer holds {report.safe(rec.content, 64)!r}, not "
            f"the {content} sent; not trusting it")
    if proxied is not None and rec.proxied is not proxied:
        raise errors.TransientError(
            f"Cloudflare API: {what}: the answer says proxied {str(rec.proxied).lower()}, not "
            f"the {str(proxied).lower()} sent; not trusting it")
    if ttl is not None and not rec.proxied and rec.ttl != ttl:
        raise errors.TransientError(
            f"Cloudflare API: {what}: the answer says ttl {rec.ttl}, not the {ttl} sent; not "
            "trusting it")
    return rec


def _bad_answer(what: str) -> NoReturn:
    raise errors.TransientError(f"Cloudflare API: {what}: the answer had no valid record data")
