"""A whole stack on the native snapshotter (`pydockerd --storage-driver native`, which pycontainerd also falls
back to where overlay mounts fail): run with a write, diff, commit, a build whose RUN deletes a base file (a whiteout
in the layer, a deletion when applied), and a clean removal."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stacklib import REPO, stack_session


def _has_storage_driver_flag() -> bool:
    out = subprocess.run([sys.executable, "-m", "pydockerd.main", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=60).stdout
    return "--storage-driver" in out


pytestmark = pytest.mark.skipif(not _has_storage_driver_flag(),
                                reason="pydockerd has no --storage-driver to choose the native snapshotter")


@pytest.fixture(scope="module")
def native_stack(busybox_rootfs_tar):
    yield from stack_session("pydocker-native-", busybox_rootfs_tar, ["--storage-driver", "native"])


def test_run_commit_build_and_remove_on_native(native_stack, tmp_path):
    st = native_stack
    info = st.docker("info", "--format", "{{.Driver}}", check=True).stdout.strip()
    assert info == "native"
    name = f"nat-{uuid.uuid4().hex[:8]}"
    tag = f"natimg-{uuid.uuid4().hex[:8]}"
    try:
        out = st.docker("run", "--name", name, "busybox", "sh", "-c",
                        "echo written > /etc/mine && rm /etc/group && cat /etc/mine", check=True).stdout
        assert out == "written\n"
        # docker diff against the image's full copy (no upper dir to go by)
        assert st.docker("diff", name, check=True).stdout == "C /etc\nA /etc/mine\nD /etc/group\n"
        st.docker("commit", name, f"{tag}:committed", check=True)
        out = st.docker("run", "--rm", f"{tag}:committed", "sh", "-c",
                        "cat /etc/mine; test -e /etc/group && echo group-back || echo group-gone", check=True).stdout
        assert out == "written\ngroup-gone\n"
        (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built && rm /etc/passwd\n"
                                             "RUN ls /etc > /etc-list\n")
        st.docker("build", "-t", f"{tag}:built", str(tmp_path), check=True, timeout=180)
        out = st.docker("run", "--rm", f"{tag}:built", "sh", "-c",
                        "cat /built; grep -c passwd /etc-list; test -e /etc/passwd || echo passwd-gone",
                        check=True).stdout
        assert out == "built\n0\npasswd-gone\n"
        hist = st.docker("history", "-q", f"{tag}:built", check=True).stdout.split()
        assert len(hist) >= 3
    finally:
        st.docker("rm", "-f", name)
        st.docker("rmi", "-f", f"{tag}:committed", f"{tag}:built")
    assert name not in st.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout
