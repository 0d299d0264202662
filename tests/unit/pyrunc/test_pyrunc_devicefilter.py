"""pyrunc's cgroup v2 device filter: rule semantics (v1 controller's) and the compiled eBPF.

The compiled program is run here by a small interpreter of the instructions it uses, so
every rule set is checked request by request against what the v1 controller would answer.
"""
from __future__ import annotations

import itertools
import struct

import pytest

from pyrunc.cgroups import devicefilter as df
from pyrunc.cgroups import device_rules

M, R, W = df.ACC_MKNOD, df.ACC_READ, df.ACC_WRITE


def run_program(prog: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Execute a cgroup device program on one bpf_cgroup_dev_ctx (the opcodes we emit only)."""
    ctx = struct.pack("<III", dev_type | (access << 16), major, minor)
    insns = [struct.unpack_from("<BBhi", prog, i) for i in range(0, len(prog), 8)]
    reg = [0] * 11
    pc = 0
    for _ in range(10000):
        code, regs, off, imm = insns[pc]
        dst, src = regs & 0xF, regs >> 4
        pc += 1
        if code == 0x61:
            reg[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:
            reg[dst] = (reg[dst] & imm) & 0xFFFFFFFF
        elif code == 0x74:
            reg[dst] = (reg[dst] & 0xFFFFFFFF) >> imm
        elif code == 0xbc:
            reg[dst] = reg[src] & 0xFFFFFFFF
        elif code == 0xb7:
            reg[dst] = imm
        elif code == 0x55:
            pc += off if reg[dst] != imm else 0
        elif code == 0x5d:
            pc += off if reg[dst] != reg[src] else 0
        elif code == 0x15:
            pc += off if reg[dst] == imm else 0
        elif code == 0x95:
            return reg[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program did not exit")


def rule(allow, typ="a", major=None, minor=None, access="rwm"):
    return {"allow": allow, "type": typ, "major": major, "minor": minor, "access": access}


DEVICES = [(t, ma, mi) for t in (df.DEV_CHAR, df.DEV_BLOCK) for ma in (1, 5, 8, 136)
           for mi in (0, 3, 5, 9)]
ACCESSES = [a for n in (1, 2, 3) for a in
            (sum(c) for c in itertools.combinations((M, R, W), n))]


def check_against_ruleset(rules):
    prog = df.compile_rules(rules)
    assert len(prog) % 8 == 0 and len(prog) // 8 < 4096
    rs = df.rule_set(rules)
    for (t, ma, mi), acc in itertools.product(DEVICES, ACCESSES):
        letter = "c" if t == df.DEV_CHAR else "b"
        assert bool(run_program(prog, t, acc, ma, mi)) == rs.allows(letter, ma, mi, acc), \
            (rules, letter, ma, mi, acc)
    return prog


def test_no_rules_allows_everything():
    prog = check_against_ruleset([])
    assert run_program(prog, df.DEV_BLOCK, R | W, 8, 0) == 1


def test_deny_all_then_allow_null_read_write():
    rules = [rule(False), rule(True, "c", 1, 3, "rw")]
    prog = check_against_ruleset(rules)
    assert run_program(prog, df.DEV_CHAR, R | W, 1, 3) == 1      # /dev/null rw
    assert run_program(prog, df.DEV_CHAR, M, 1, 3) == 0          # but no mknod
    assert run_program(prog, df.DEV_CHAR, R, 1, 5) == 0          # /dev/zero
    assert run_program(prog, df.DEV_BLOCK, R, 1, 3) == 0         # same numbers, block


def test_runc_defaults_of_a_docker_container():
    # Docker sends "deny all", then runc's default list is appended by pyrunc
    rules = device_rules({"devices": [rule(False)]}, [])
    prog = check_against_ruleset(rules)
    assert run_program(prog, df.DEV_CHAR, R | W, 136, 4) == 1    # any pts
    assert run_program(prog, df.DEV_BLOCK, M, 8, 0) == 1         # mknod of any block device
    assert run_program(prog, df.DEV_BLOCK, R, 8, 0) == 0         # but not reading it
    assert run_program(prog, df.DEV_CHAR, R, 10, 229) == 0       # fuse not allowed


def test_wildcards_and_later_rules_take_access_away():
    rules = [rule(False), rule(True, "c", 1, None, "rwm"), rule(False, "c", 1, None, "w")]
    prog = check_against_ruleset(rules)
    assert run_program(prog, df.DEV_CHAR, R, 1, 9) == 1
    assert run_program(prog, df.DEV_CHAR, W, 1, 9) == 0
    # a deny of one minor does not punch a hole into the wildcard (v1 semantics)
    rs = df.rule_set([rule(False), rule(True, "c", 1, None), rule(False, "c", 1, 5)])
    assert rs.allows("c", 1, 5, R)


def test_allow_by_default_with_denied_exceptions():
    rules = [rule(True), rule(False, "c", 1, 5, "r"), rule(False, "b", 8, None, "w")]
    prog = check_against_ruleset(rules)
    assert run_program(prog, df.DEV_CHAR, R, 1, 5) == 0
    assert run_program(prog, df.DEV_CHAR, R | W, 1, 5) == 0      # any denied bit denies
    assert run_program(prog, df.DEV_CHAR, W, 1, 5) == 1
    assert run_program(prog, df.DEV_BLOCK, W, 8, 16) == 0
    assert run_program(prog, df.DEV_BLOCK, R, 8, 16) == 1


def test_a_rule_resets_everything_before_it():
    rules = [rule(False), rule(True, "c", 1, 3), rule(True)]
    rs = df.rule_set(rules)
    assert rs.default_allow and not rs.exceptions
    check_against_ruleset(rules)


@pytest.mark.parametrize("bad", [rule(True, "p", 0, 0), rule(True, "c", 1, 3, "rx"),
                                 rule(True, "c", -5, 3)])
def test_invalid_rules_are_refused(bad):
    with pytest.raises(df.DeviceRuleError):
        df.compile_rules([bad])


def test_instruction_encoding():
    # dst in the low nibble, src in the high one, little-endian off and imm
    assert df.insn(0x5d, 1, 3, 2, 0) == bytes([0x5d, 0x31, 2, 0, 0, 0, 0, 0])
    assert df.insn(0xb7, 0, imm=-1)[4:] == b"\xff\xff\xff\xff"
