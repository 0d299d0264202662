"""Just enough of the DNS wire format (RFC 1035) for the embedded resolver: parse a query,
build answers with A and PTR records."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
CLASS_IN = 1

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_RD = 0x0100
FLAG_RA = 0x0080


class DNSFormatError(ValueError):
    pass


@dataclass
class Question:
    name: str          # lower-case, without the trailing dot
    qtype: int
    qclass: int


@dataclass
class Query:
    id: int
    flags: int
    question: Question
    raw_question: bytes   # echoed back verbatim in the answer


def _read_name(msg: bytes, off: int) -> tuple[str, int]:
    labels: list[str] = []
    jumps = 0
    end = -1
    while True:
        if off >= len(msg):
            raise DNSFormatError("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:   # compression pointer
            if off + 1 >= len(msg) or jumps > 16:
                raise DNSFormatError("bad compression pointer")
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            continue
        if n == 0:
            off += 1
            break
        if n > 63 or off + 1 + n > len(msg):
            raise DNSFormatError("bad label")
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels).lower(), (end if end >= 0 else off)


def parse_query(msg: bytes) -> Query:
    if len(msg) < 12:
        raise DNSFormatError("short header")
    qid, flags, qd, _an, _ns, _ar = struct.unpack("!6H", msg[:12])
    if flags & FLAG_QR or qd != 1:
        raise DNSFormatError("not a single-question query")
    name, off = _read_name(msg, 12)
    if off + 4 > len(msg):
        raise DNSFormatError("short question")
    qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
    return Query(qid, flags, Question(name, qtype, qclass), msg[12:off + 4])


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            b = label.encode("ascii")
            if len(b) > 63:
                raise ValueError(f"label too long: {label}")
            out += bytes([len(b)]) + b
    return out + b"\0"


def build_response(q: Query, rcode: int = RCODE_NOERROR, a: list[IPv4Address] = (),
                   ptr: list[str] = (), ttl: int = 600, authoritative: bool = True) -> bytes:
    """An answer to ``q``: A records or PTR records (pointing at the question name)."""
    flags = FLAG_QR | (q.flags & FLAG_RD) | FLAG_RA | rcode
    if authoritative:
        flags |= FLAG_AA
    answers = b""
    count = 0
    for ip in a:
        answers += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, ttl, 4) + ip.packed
        count += 1
    for target in ptr:
        rdata = encode_name(target)
        answers += struct.pack("!HHHIH", 0xC00C, TYPE_PTR, CLASS_IN, ttl, len(rdata)) + rdata
        count += 1
    header = struct.pack("!6H", q.id, flags, 1, count, 0, 0)
    return header + q.raw_question + answers


def build_query(qid: int, name: str, qtype: int, rd: bool = True) -> bytes:
    """A query message (used by tests and by nothing else at runtime)."""
    header = struct.pack("!6H", qid, FLAG_RD if rd else 0, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def parse_answers(msg: bytes) -> tuple[int, list[tuple[int, object]]]:
    """(rcode, [(type, value)]) of a response; A → IPv4Address, PTR → name. For tests/forwarding."""
    qid, flags, qd, an, _ns, _ar = struct.unpack("!6H", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = _read_name(msg, off)
        off += 4
    out: list[tuple[int, object]] = []
    for _ in range(an):
        _, off = _read_name(msg, off)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == TYPE_A and rdlen == 4:
            out.append((rtype, IPv4Address(rdata)))
        elif rtype == TYPE_PTR:
            out.append((rtype, _read_name(msg, off)[0]))
        else:
            out.append((rtype, rdata))
        off += rdlen
    return flags & 0xF, out


def reverse_name_to_ip(name: str) -> IPv4Address | None:
    """``2.0.18.172.in-addr.arpa`` → 172.18.0.2 (None for anything else)."""
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[:-len(suffix)].split(".")
    if len(parts) != 4:
        return None
    try:
        return IPv4Address(".".join(reversed(parts)))
    except ValueError:
        return None
