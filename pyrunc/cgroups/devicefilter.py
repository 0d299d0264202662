"""cgroup v2 device control: OCI device rules compiled to an eBPF program (as runc does).

cgroup v2 has no devices.allow/deny files; the kernel instead runs BPF_PROG_TYPE_CGROUP_DEVICE
programs attached to the cgroup on every open/mknod of a device node. This module

1. reduces the rule list with the semantics of the v1 devices controller (``RuleSet``): an
   ``a`` rule resets to allow-all or deny-all, later rules add exceptions to that default or
   take access away from an identical exception, so the same spec means the same thing on v1
   and v2;
2. compiles the result to raw eBPF instructions (``compile_rules``);
3. loads it with bpf(2) and attaches it to the cgroup dir (``apply``), replacing a previous
   filter of ours without a window where none is attached.

Not on pyrunc's hot path: only create/update of a container on a cgroup v2 host import it.
"""
from __future__ import annotations

import _ctypes
import os
import struct

# bpf_cgroup_dev_ctx.access_type: device type in the low 16 bits, access in the high 16
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

WILDCARD = -1

# bpf(2) commands, program and attach types, flags (uapi/linux/bpf.h)
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_QUERY = 13, 15, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
PROG_NAME = b"pyrunc_devices"  # how we recognise our own filter when replacing it (<16 bytes)

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}


class DeviceRuleError(ValueError):
    pass


def parse_access(text: str | None) -> int:
    """``"rwm"`` (any subset, any order; empty or None = all) to the ACC_* bit set."""
    if not text:
        return ACC_ALL
    bits = 0
    for ch in text:
        if ch not in _ACCESS:
            raise DeviceRuleError(f"invalid device access {text!r}")
        bits |= _ACCESS[ch]
    return bits


class RuleSet:
    """The effective device policy after applying rules in order, as the v1 controller does.

    ``default_allow`` is the behaviour for devices no exception matches; ``exceptions`` maps
    (type, major, minor) to access bits that are the opposite of the default (allowed in a
    deny-by-default set, denied in an allow-by-default one). Wildcard major/minor is -1.
    """

    def __init__(self, default_allow: bool = True) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[tuple[str, int, int], int] = {}

    def apply(self, rule: dict) -> None:
        allow = bool(rule.get("allow"))
        typ = rule.get("type") or "a"
        access = parse_access(rule.get("access"))
        if typ == "a":
            # "a" is a reset whatever major/minor/access say (the kernel looks at the type only)
            self.default_allow = allow
            self.exceptions.clear()
            return
        if typ not in _TYPES:
            raise DeviceRuleError(f"invalid device type {typ!r}")
        key = (typ, _num(rule.get("major")), _num(rule.get("minor")))
        if allow != self.default_allow:
            # an exception to the default: add it, or widen an identical one
            self.exceptions[key] = self.exceptions.get(key, 0) | access
        elif key in self.exceptions:
            # same action as the default: take the access away from an identical exception
            left = self.exceptions[key] & ~access
            if left:
                self.exceptions[key] = left
            else:
                del self.exceptions[key]

    def allows(self, typ: str, major: int, minor: int, access: int) -> bool:
        """What the compiled program answers for one request (for tests and reasoning)."""
        for (t, ma, mi), acc in self.exceptions.items():
            if t != typ or ma not in (WILDCARD, major) or mi not in (WILDCARD, minor):
                continue
            if self.default_allow and access & acc:
                return False  # any denied bit denies (v1 blacklist: partial match)
            if not self.default_allow and access & ~acc == 0:
                return True   # an allow exception must cover every requested bit
        return self.default_allow


def _num(v) -> int:
    if v is None or v == WILDCARD:
        return WILDCARD
    v = int(v)
    if v < 0:
        raise DeviceRuleError(f"invalid device number {v}")
    return v


def rule_set(rules: list[dict]) -> RuleSet:
    """Apply OCI ``linux.resources.devices`` entries in order. The v1 controller starts out
    allowing everything, and so does a cgroup without a filter."""
    rs = RuleSet(default_allow=True)
    for r in rules:
        rs.apply(r)
    return rs


# --- eBPF -------------------------------------------------------------------------------------
# opcodes (uapi/linux/bpf_common.h + bpf.h)
_LDX_W = 0x61        # BPF_LDX | BPF_MEM | BPF_W:    dst = *(u32 *)(src + off)
_AND32_K = 0x54      # BPF_ALU | BPF_AND | BPF_K:    dst32 &= imm
_RSH32_K = 0x74      # BPF_ALU | BPF_RSH | BPF_K:    dst32 >>= imm
_MOV32_X = 0xbc      # BPF_ALU | BPF_MOV | BPF_X:    dst32 = src32
_MOV64_K = 0xb7      # BPF_ALU64 | BPF_MOV | BPF_K:  dst = imm
_JNE_K = 0x55        # BPF_JMP | BPF_JNE | BPF_K:    if dst != imm goto +off
_JNE_X = 0x5d        # BPF_JMP | BPF_JNE | BPF_X:    if dst != src goto +off
_JEQ_K = 0x15        # BPF_JMP | BPF_JEQ | BPF_K:    if dst == imm goto +off
_EXIT = 0x95         # BPF_JMP | BPF_EXIT


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One struct bpf_insn: u8 code, u8 dst:4|src:4 (dst in the low nibble), s16 off, s32 imm."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def compile_rules(rules: list[dict]) -> bytes:
    """The program for OCI device rules, as bytes of struct bpf_insn.

    r1 is the bpf_cgroup_dev_ctx; the prologue loads type to r2, access to r3, major to r4,
    minor to r5. Each exception is a block of tests that jump to the next block on mismatch
    and otherwise return the exception's verdict; the last block returns the default.
    """
    rs = rule_set(rules)
    prog = [insn(_LDX_W, 2, 1, 0), insn(_AND32_K, 2, imm=0xFFFF),
            insn(_LDX_W, 3, 1, 0), insn(_RSH32_K, 3, imm=16),
            insn(_LDX_W, 4, 1, 4), insn(_LDX_W, 5, 1, 8)]
    verdict = 0 if rs.default_allow else 1
    for (typ, major, minor), acc in rs.exceptions.items():
        # a block: items are finished instructions or (code, dst, src, imm) tests whose jump
        # offset ("to the next block") is known once the block's length is
        block: list = [(_JNE_K, 2, 0, _TYPES[typ])]
        if acc != ACC_ALL:
            block += [insn(_MOV32_X, 1, 3), insn(_AND32_K, 1, imm=acc)]
            if rs.default_allow:
                # deny if any requested bit is in the exception: skip when (r3 & acc) == 0
                block.append((_JEQ_K, 1, 0, 0))
            else:
                # allow only if every requested bit is in it: skip when (r3 & acc) != r3
                block.append((_JNE_X, 1, 3, 0))
        if major != WILDCARD:
            block.append((_JNE_K, 4, 0, major))
        if minor != WILDCARD:
            block.append((_JNE_K, 5, 0, minor))
        block += [insn(_MOV64_K, 0, imm=verdict), insn(_EXIT)]
        for pos, item in enumerate(block):
            if isinstance(item, tuple):
                code, dst, src, imm = item
                item = insn(code, dst, src, len(block) - pos - 1, imm)
            prog.append(item)
    prog.append(insn(_MOV64_K, 0, imm=1 if rs.default_allow else 0))
    prog.append(insn(_EXIT))
    return b"".join(prog)


# --- bpf(2) ---------------------------------------------------------------------------------
class _Bpf:
    """bpf(2) through pyrunc's own libc binding (syscalls: no ``import ctypes``, ~3 ms of start-up
    on every create of a v2 host)."""

    def __init__(self) -> None:
        from .. import syscalls
        nr = _SYS_BPF.get(os.uname().machine)
        if nr is None:
            raise OSError(38, f"bpf(2): unsupported machine {os.uname().machine}")
        self.nr = nr
        self.sc = syscalls

    def call(self, cmd: int, attr: bytearray) -> int:
        sc = self.sc
        buf = (sc.c_char * len(attr)).from_buffer(attr)
        return sc._check(sc._libc.syscall(sc.c_long(self.nr), sc.c_int(cmd), buf, sc.c_uint(len(attr))), "bpf")

    def buffer(self, data: bytes | int):
        """A C char buffer: a copy of ``data``, or ``data`` zero bytes."""
        if isinstance(data, int):
            return (self.sc.c_char * data)()
        return (self.sc.c_char * len(data)).from_buffer_copy(data)

    def addr(self, obj) -> int:
        return _ctypes.addressof(obj)


def load(program: bytes, license_: str = "Apache") -> int:
    """BPF_PROG_LOAD a cgroup device program; returns its fd. The verifier log is in the error."""
    b = _Bpf()
    code = b.buffer(program)
    lic = b.buffer(license_.encode() + b"\0")
    log = b.buffer(65536)
    attr = bytearray(128)
    struct.pack_into("<IIQQIIQII16sII", attr, 0,
                     BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8, b.addr(code), b.addr(lic),
                     1, len(log), b.addr(log), 0, 0, PROG_NAME, 0, BPF_CGROUP_DEVICE)
    try:
        return b.call(BPF_PROG_LOAD, attr)
    except OSError as e:
        text = log.value.decode(errors="replace").strip()
        if text:
            raise OSError(e.errno, f"{e.strerror}: {text[-500:]}") from None
        raise


def attached(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached directly to the cgroup (BPF_PROG_QUERY)."""
    b = _Bpf()
    ids = (b.sc.c_uint32 * 64)()
    attr = bytearray(40)
    struct.pack_into("<IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, b.addr(ids), 64)
    b.call(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(ids[:count])


def prog_fd_by_id(prog_id: int) -> int:
    attr = bytearray(16)
    struct.pack_into("<I", attr, 0, prog_id)
    return _Bpf().call(BPF_PROG_GET_FD_BY_ID, attr)


def prog_name(prog_fd: int) -> bytes:
    """The name a program was loaded with (struct bpf_prog_info.name, at offset 64)."""
    b = _Bpf()
    info = b.buffer(256)
    attr = bytearray(16)
    struct.pack_into("<IIQ", attr, 0, prog_fd, 256, b.addr(info))
    b.call(BPF_OBJ_GET_INFO_BY_FD, attr)
    return info.raw[64:80].rstrip(b"\0")


def attach(cgroup_fd: int, prog_fd: int) -> None:
    attr = bytearray(20)
    struct.pack_into("<IIIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, 0)
    _Bpf().call(BPF_PROG_ATTACH, attr)


def detach(cgroup_fd: int, prog_fd: int) -> None:
    attr = bytearray(20)
    struct.pack_into("<IIIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, 0, 0)
    _Bpf().call(BPF_PROG_DETACH, attr)


def apply(cgroup_dir: str, rules: list[dict]) -> None:
    """Compile ``rules``, attach the program to ``cgroup_dir`` and detach the filters of ours
    it replaces (after the attach, so the cgroup is never unfiltered). Programs others
    attached (systemd's, say) stay: with BPF_F_ALLOW_MULTI every program must allow."""
    program = compile_rules(rules)
    dfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old: list[int] = []
        for pid_ in attached(dfd):
            try:
                fd = prog_fd_by_id(pid_)
            except OSError:
                continue
            if prog_name(fd) == PROG_NAME:
                old.append(fd)
            else:
                os.close(fd)
        pfd = load(program)
        try:
            attach(dfd, pfd)
        finally:
            os.close(pfd)  # the attachment holds its own reference
        for fd in old:
            try:
                detach(dfd, fd)
            finally:
                os.close(fd)
    finally:
        os.close(dfd)
