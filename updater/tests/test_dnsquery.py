"""The hand-rolled DNS client: wire format checks on crafted answers (no network)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi_ddns.detect import SourceError
from pi_ddns.dnsquery import build_query, parse_response, read_name

QID, NAME, A, TXT, IN, CH = 0x1234, "myip.opendns.com", 1, 16, 1, 3


def answer(*records: bytes, qid: int = QID, flags: int = 0x8180, question: bytes | None = None,
           qdcount: int = 1) -> bytes:
    q = question if question is not None else build_query(qid, NAME, A, IN)[12:]
    return struct.pack("!HHHHHH", qid, flags, qdcount, len(records), 0, 0) + q + b"".join(records)


def rr(rdata: bytes, owner: bytes = b"\xc0\x0c", rtype: int = A, rclass: int = IN) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, 60, len(rdata)) + rdata


def test_a_answer() -> None:
    assert parse_response(answer(rr(bytes([81, 2, 69, 160]))), QID, NAME, A, IN) == ["81.2.69.160"]


def test_txt_answer_joins_the_strings_of_one_record() -> None:
    q = build_query(QID, "whoami.cloudflare", TXT, CH)[12:]
    msg = answer(rr(b"\x0581.2.\x0669.160", rtype=TXT, rclass=CH), question=q)
    assert parse_response(msg, QID, "whoami.cloudflare", TXT, CH) == ["81.2.69.160"]
    short = answer(rr(b"\x0581.2.\x0869.160", rtype=TXT, rclass=CH), question=q)
    with pytest.raises(SourceError, match="short TXT string"):
        parse_response(short, QID, "whoami.cloudflare", TXT, CH)


def test_two_answers_are_both_returned() -> None:
    msg = answer(rr(bytes([81, 2, 69, 160])), rr(bytes([81, 2, 69, 161])))
    assert len(parse_response(msg, QID, NAME, A, IN)) == 2


@pytest.mark.parametrize(("msg", "why"), [
    (b"\x12", "short header"),
    (answer(qid=0x9999), "not a response to our query"),
    (answer(flags=0x0100), "not a response to our query"),
    (answer(flags=0x8380), "truncated"),
    (answer(flags=0x8183), "NXDOMAIN"),
    (answer(flags=0x818F), "rcode 15"),
    (answer(qdcount=2), "2 questions"),
    (answer(question=build_query(QID, "other.example", A, IN)[12:]), "another question"),
    (answer(rr(bytes([81, 2, 69, 160]), owner=b"\x05wrong\x00")), "records for wrong"),
    (answer(rr(bytes([81, 2, 69, 160]), rtype=28)), "no myip.opendns.com record"),
    (answer(rr(b"\x01\x02\x03")), "bad rdata length"),
    (answer(rr(bytes([81, 2, 69, 160]), owner=b"\xc0\xff")), "runs past the end"),
    (answer(rr(bytes([81, 2, 69, 160]))[:-2]), "short rdata"),
    (answer()[:-3], "short question"),
])
def test_bad_answers(msg: bytes, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        parse_response(msg, QID, NAME, A, IN)


def test_pointer_loop_is_caught() -> None:
    with pytest.raises(SourceError, match="pointer loop"):
        read_name(b"\xc0\x00", 0)


def test_name_case_is_ignored() -> None:
    q = build_query(QID, "MyIP.OpenDNS.com", A, IN)[12:]
    assert parse_response(answer(rr(bytes(4 * [81])), question=q), QID, NAME, A, IN) == [
        "81.81.81.81"]


@given(st.binary(max_size=200))
def test_property_arbitrary_datagrams_give_answers_or_a_source_error(tail: bytes) -> None:
    for msg in (tail, answer() + tail, struct.pack("!HH", QID, 0x8180) + tail):
        try:
            out = parse_response(msg, QID, NAME, A, IN)
        except SourceError:
            continue
        assert all(isinstance(x, str) for x in out)
