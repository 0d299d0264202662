"""Docker's default seccomp semantics and SecurityOpt parsing (pydockerd/daemon/seccomp.py)."""
from __future__ import annotations

import json

import pytest

from pydockerd.daemon import oci, seccomp
from pydockerd.errors import InvalidParameter


def allowed(profile: dict, name: str) -> list[dict]:
    return [r for r in profile["syscalls"] if name in r["names"]]


def test_default_profile_without_sys_admin():
    p = seccomp.default_profile(oci.DEFAULT_CAPS)
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    assert not allowed(p, "unshare") and not allowed(p, "mount") and not allowed(p, "keyctl")
    assert allowed(p, "read") and allowed(p, "chroot")  # CAP_SYS_CHROOT is a default cap
    (clone,) = allowed(p, "clone")
    assert clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ" and clone["args"][0]["value"] == 0x7E020000
    (clone3,) = allowed(p, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38
    assert sorted(r["args"][0]["value"] for r in allowed(p, "personality")) == [0, 8, 0x20000, 0x20008,
                                                                                0xFFFFFFFF]


def test_default_profile_follows_capabilities():
    p = seccomp.default_profile(oci.DEFAULT_CAPS + ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"])
    assert allowed(p, "unshare") and allowed(p, "mount") and allowed(p, "kcmp")
    assert all("args" not in r for r in allowed(p, "clone"))  # unrestricted
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in allowed(p, "clone3"))
    p = seccomp.default_profile([c for c in oci.DEFAULT_CAPS if c != "CAP_SYS_CHROOT"])
    assert not allowed(p, "chroot")


def test_security_opts():
    assert seccomp.parse_security_opts(None) == {"seccomp": None, "no_new_privileges": False}
    assert seccomp.parse_security_opts(["no-new-privileges"])["no_new_privileges"] is True
    assert seccomp.parse_security_opts(["no-new-privileges:true"])["no_new_privileges"] is True
    assert seccomp.parse_security_opts(["no-new-privileges=false"])["no_new_privileges"] is False
    assert seccomp.parse_security_opts(["seccomp=unconfined", "label=disable"])["seccomp"] == "unconfined"
    with pytest.raises(InvalidParameter, match='invalid --security-opt 2: "foo=bar"'):
        seccomp.parse_security_opts(["foo=bar"])
    with pytest.raises(InvalidParameter, match='invalid --security-opt 1: "foo"'):
        seccomp.parse_security_opts(["foo"])


def test_spec_seccomp_choices():
    caps = list(oci.DEFAULT_CAPS)
    assert seccomp.spec_seccomp({"seccomp": None}, caps, privileged=True) is None
    assert seccomp.spec_seccomp({"seccomp": "unconfined"}, caps, privileged=False) is None
    assert seccomp.spec_seccomp({"seccomp": None}, caps, False)["defaultAction"] == "SCMP_ACT_ERRNO"
    user = {"defaultAction": "SCMP_ACT_ALLOW", "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_CHOWN"]}},
            ]}
    out = seccomp.spec_seccomp({"seccomp": json.dumps(user)}, caps, False)
    assert [r["names"] for r in out["syscalls"]] == [["mkdir"]]
    assert out["syscalls"][0]["errnoRet"] == 13
    with pytest.raises(InvalidParameter, match="Decoding seccomp profile failed"):
        seccomp.spec_seccomp({"seccomp": "{nope"}, caps, False)


def test_build_spec_wires_security(tmp_path):
    paths = oci.SpecPaths(str(tmp_path / "h"), str(tmp_path / "hs"), str(tmp_path / "r"))
    spec = oci.build_spec("c" * 64, {}, {"SecurityOpt": ["no-new-privileges"], "ShmSize": 1 << 20},
                          ["true"], paths, oci.SpecOptions())
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert "size=1048576" in shm["options"]
    spec = oci.build_spec("c" * 64, {}, {"Privileged": True}, ["true"], paths, oci.SpecOptions())
    assert "seccomp" not in spec["linux"] and "maskedPaths" not in spec["linux"]
