"""Container and volume sizes through the docker CLI, against Debian's dockerd 20.10 on overlay2 and pydockerd
doing the same steps: `docker ps -s`, `docker inspect --size`, `docker system df [-v]`.

The steps: busybox imported twice (busybox:latest and a test image: the same layer, so SharedSize is the whole
image on both daemons), a named volume, a container that writes a 1 MiB file and a 10-byte symlink, deletes a
file of the image (a whiteout: 0 bytes) and writes a 2 MiB file into the volume, a container that never ran,
and a classic build with two RUN steps (its intermediate images are not listed by `system df`).

Exact equality everywhere except the CLI columns that say how long ago something happened (CREATED, STATUS)
and the IDs (an import records its time in the image config). The shared `stack` holds other tests' objects,
so there only our objects' rows and numbers are compared; the summary table of `system df` is compared on a
private pydocker stack holding only what these steps make, as the private dockerd does.
"""
from __future__ import annotations

import difflib

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from peer_dockerd import DOCKERD, private_dockerd
from stacklib import DOCKER, DOCKER20, api_get, stack_session, unique

WRITE = ("head -c 1048576 /dev/zero > /big && ln -s 0123456789 /lnk && rm /bin/ls"
         " && head -c 2097152 /dev/zero > /data/f")
DOCKERFILE = "FROM {image}\nRUN echo a > /a\nRUN echo b > /b\n"

Run = Callable[..., subprocess.CompletedProcess]


@dataclass
class Names:
    image: str
    built: str
    volume: str
    wrote: str  # the container that wrote
    fresh: str  # the container that never ran

    @classmethod
    def new(cls) -> "Names":
        tag = unique("sz")
        return cls(f"{tag}-img:1", f"{tag}-built:1", f"{tag}-vol", f"{tag}-wrote", f"{tag}-fresh")


def cli_runner(env: dict[str, str]) -> Callable[[str], Run]:
    """`runner(cli)(*args)`: that docker CLI binary against the daemon `env` names; a failure fails the test."""
    def runner(cli: str) -> Run:
        def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
            cp = subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=180)
            assert not check or cp.returncode == 0, f"{cli} {' '.join(args)}: {cp.stdout}{cp.stderr}"
            return cp
        return run
    return runner


def make_objects(run: Run, tar: Path, n: Names, with_busybox: bool, tmp: Path) -> None:
    """The steps, the same on every daemon (the stack fixture has busybox:latest already)."""
    if with_busybox:
        run("import", str(tar), "busybox:latest")
    run("import", str(tar), n.image)
    run("volume", "create", n.volume)
    run("run", "--name", n.wrote, "-v", f"{n.volume}:/data", n.image, "sh", "-c", WRITE)
    run("create", "--name", n.fresh, n.image, "true")
    ctx = Path(tempfile.mkdtemp(dir=tmp))
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(image=n.image))
    run("build", "-q", "-t", n.built, str(ctx))


def remove_objects(run: Run, n: Names) -> None:
    run("rm", "-f", n.wrote, n.fresh, check=False)
    run("volume", "rm", "-f", n.volume, check=False)
    run("rmi", "-f", n.built, n.image, check=False)


def table(text: str, title: str) -> list[dict[str, str]]:
    """A section of `system df -v` (or the whole output without -v) as rows of column → cell, cut at
    the header's column starts (cells never reach into the next column: the CLI pads them)."""
    lines = text.splitlines()
    if title:
        lines = lines[lines.index(title) + 2:]
    header, rows = lines[0], []
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    for line in lines[1:]:
        if not line.strip():
            break
        rows.append({k: line[a:b].strip() for k, a, b in zip(names, starts, starts[1:] + [None])})
    return rows


def observe(run: Run, sock: str, n: Names) -> dict[str, object]:
    """What the CLI and the API say about our objects (without the columns that tell the time or IDs)."""
    ps = run("ps", "-a", "-s", "--filter", f"name={n.wrote}", "--filter", f"name={n.fresh}",
             "--format", "{{.Names}} {{.Size}}").stdout
    inspect = run("inspect", "--size", "-f", "{{.Name}} {{.SizeRw}} {{.SizeRootFs}}", n.wrote, n.fresh).stdout
    unsized = run("inspect", "-f", "{{json .SizeRw}} {{json .SizeRootFs}}", n.wrote).stdout
    df_v = run("system", "df", "-v").stdout
    image_rows = [{k: r[k] for k in ("REPOSITORY", "TAG", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS")}
                  for r in table(df_v, "Images space usage:")
                  if f"{r['REPOSITORY']}:{r['TAG']}" in (n.image, n.built)]
    container_rows = [{k: r[k] for k in ("IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "NAMES")}
                      for r in table(df_v, "Containers space usage:") if r["NAMES"] in (n.wrote, n.fresh)]
    volume_rows = [r for r in table(df_v, "Local Volumes space usage:") if r["VOLUME NAME"] == n.volume]
    du = api_get(sock, "/system/df")
    assert isinstance(du, dict)
    tags = {n.image, n.built}
    api_images = sorted((i["RepoTags"], i["Size"], i["SharedSize"], i["Containers"])
                        for i in du["Images"] if tags & set(i["RepoTags"] or []))
    # moby's SizeRw/SizeRootFs are omitempty in lists: a container that changed nothing has no SizeRw
    api_containers = sorted((c["Names"], c.get("SizeRw"), c.get("SizeRootFs"))
                            for c in du["Containers"] if c["Names"][0][1:] in (n.wrote, n.fresh))
    api_volumes = [v["UsageData"] for v in du["Volumes"] if v["Name"] == n.volume]
    listed = api_get(sock, "/containers/json?all=1&size=1")
    assert isinstance(listed, list)
    api_ps = sorted((c["Names"], c.get("SizeRw"), c.get("SizeRootFs"))
                    for c in listed if c["Names"][0][1:] in (n.wrote, n.fresh))
    # (images listed newest first: two made within one second may come in either order, on both daemons)
    image_rows.sort(key=lambda r: r["REPOSITORY"])
    return {"ps": sorted(ps.splitlines()), "inspect": inspect, "unsized": unsized, "image_rows": image_rows,
            "container_rows": sorted(container_rows, key=lambda r: r["NAMES"]), "volume_rows": volume_rows,
            "api_images": api_images, "api_containers": api_containers, "api_volumes": api_volumes,
            "api_ps": api_ps}


def summary(run: Run) -> str:
    """`docker system df`: every daemon-wide total (only deterministic on a daemon holding just our objects)."""
    return run("system", "df").stdout


@pytest.fixture(scope="module")
def real(busybox_rootfs_tar, tmp_path_factory):
    """The steps on a private dockerd 20.10 (overlay2), observed through both CLIs, with its summary tables."""
    if not os.path.exists(DOCKERD) or not os.path.exists(DOCKER20):
        pytest.skip("docker.io is not installed")
    n = Names.new()
    with private_dockerd("pyd-sizes-", storage_driver="overlay2") as peer:
        env = dict(os.environ, DOCKER_HOST=f"unix://{peer.sock}", DOCKER_CONFIG=str(peer.base / "cfg"),
                   DOCKER_BUILDKIT="0")
        runner = cli_runner(env)
        try:
            make_objects(runner(DOCKER20), busybox_rootfs_tar, n, True, tmp_path_factory.mktemp("real"))
            seen = {cli: observe(runner(cli), str(peer.sock), n) for cli in (DOCKER, DOCKER20)}
            totals = {cli: summary(runner(cli)) for cli in (DOCKER, DOCKER20)}
        finally:
            remove_objects(runner(DOCKER20), n)
    return n, seen, totals


def _known_values(seen: dict[str, object]) -> None:
    """The numbers Docker's rules make, so that a reference gone wrong does not pass unnoticed: the
    writer's layer is the file plus the symlink's target length (the whiteout counts 0), the container
    that never ran has none (no SizeRw: omitempty), SizeRootFs adds the image's size."""
    (_, fresh_rw, image_size), (_, wrote_rw, wrote_root) = seen["api_containers"]  # type: ignore[misc]
    assert (fresh_rw, wrote_rw, wrote_root) == (None, 1048576 + len("0123456789"), image_size + wrote_rw)
    assert seen["api_ps"] == seen["api_containers"]
    assert (len(seen["image_rows"]), len(seen["container_rows"]), len(seen["volume_rows"])) == (2, 2, 1)  # type: ignore[arg-type]
    assert seen["api_volumes"] == [{"Size": 2097152, "RefCount": 1}], seen["api_volumes"]


def test_sizes_equal_a_real_dockerd_on_overlay2(stack, real, busybox_rootfs_tar, tmp_path):
    """The same steps on the session's pydockerd (same names: another daemon): our objects' numbers and
    rows as the private dockerd's, through both CLIs."""
    n, seen_real, _totals = real
    for cli in (DOCKER, DOCKER20):
        _known_values(seen_real[cli])
    run_in = cli_runner(dict(stack.env, DOCKER_BUILDKIT="0"))
    try:
        make_objects(run_in(DOCKER20), busybox_rootfs_tar, n, False, tmp_path)
        for cli in (DOCKER, DOCKER20):
            ours = observe(run_in(cli), str(stack.sock), n)
            assert ours == seen_real[cli], (cli, ours, seen_real[cli], stack.log_tail())
    finally:
        remove_objects(run_in(DOCKER20), n)


@pytest.fixture
def lone_stack(busybox_rootfs_tar):
    """A pydocker stack of its own, so that `system df`'s totals count only these steps' objects."""
    yield from stack_session("pydocker-sizes-", busybox_rootfs_tar, env={"DOCKER_BUILDKIT": "0"})


def test_system_df_totals_equal_a_real_dockerd(lone_stack, real, busybox_rootfs_tar, tmp_path):
    """Whole `system df` tables (images as `docker images` lists them, containers' and volumes' sizes and
    what is reclaimable) equal the private dockerd's after the same steps."""
    n, _seen, totals = real
    run_in = cli_runner(lone_stack.env)
    try:
        make_objects(run_in(DOCKER20), busybox_rootfs_tar, n, False, tmp_path)
        for cli in (DOCKER, DOCKER20):
            assert summary(run_in(cli)) == totals[cli], (cli, lone_stack.log_tail())
        assert [r["TOTAL"] for r in table(totals[DOCKER20], "")][:1] == ["3"]  # busybox, the image, the build
        # and our own CLI prints what the docker CLI 28 prints
        assert lone_stack.pydocker("system", "df", check=True).stdout == totals[DOCKER]
        ps = ("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}")
        assert lone_stack.pydocker(*ps, check=True).stdout == run_in(DOCKER)(*ps).stdout
        # and `system df -v`, whole (its CREATED columns say "N seconds ago": asked twice within one second
        # apart at most, they are compared after the same re-run if they straddle a second)
        for _ in range(3):
            ours, theirs = lone_stack.pydocker("system", "df", "-v", check=True).stdout, run_in(DOCKER)("system", "df", "-v").stdout
            if ours == theirs:
                break
        assert ours == theirs, "".join(difflib.unified_diff(theirs.splitlines(True), ours.splitlines(True)))
    finally:
        remove_objects(run_in(DOCKER20), n)
