from pycontainerd.registry.progress import (DOWNLOADED, DOWNLOADING, LAYER_EXISTS, LAYER_QUEUED, MANIFEST_PUSHED,
                                            MOUNTED, PUSHED, PUSHING, RESOLVED, VERIFYING, ProgressEvent,
                                            PullProgress, PushProgress, human_size, progress_bar)

D = "sha256:" + "0123456789ab" + "c" * 52


def test_human_size_matches_go_units():
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1000) == "1kB"
    assert human_size(2_228_224) == "2.228MB"
    assert human_size(1_500_000_000) == "1.5GB"


def test_progress_bar():
    assert progress_bar(0, 0) == ""
    assert progress_bar(500_000, 1_000_000) == "[" + "=" * 25 + ">" + " " * 25 + "]    500kB/1MB"
    assert progress_bar(1_000_000, 1_000_000) == "[" + "=" * 50 + ">]      1MB/1MB"
    assert progress_bar(1234, 0) == " 1.234kB"


def test_pull_transcript():
    out = []
    p = PullProgress(out.append, repository_path="library/busybox", tag_or_digest="latest", familiar_ref="busybox:latest")
    for ev in [ProgressEvent(RESOLVED, "sha256:" + "f" * 64), ProgressEvent(LAYER_EXISTS, "sha256:" + "e" * 64),
               ProgressEvent(LAYER_QUEUED, D), ProgressEvent(DOWNLOADING, D, 50, 100),
               ProgressEvent(VERIFYING, D), ProgressEvent(DOWNLOADED, D)]:
        p(ev)
    p.extracting(D, 100, 200)
    p.pull_complete(D)
    p.done("sha256:" + "f" * 64, updated=True)
    assert out[0] == {"status": "Pulling from library/busybox", "id": "latest"}
    assert out[1] == {"status": "Already exists", "progressDetail": {}, "id": "eeeeeeeeeeee"}
    assert out[2] == {"status": "Pulling fs layer", "progressDetail": {}, "id": "0123456789ab"}
    assert out[3]["status"] == "Downloading" and out[3]["progressDetail"] == {"current": 50, "total": 100}
    assert out[3]["progress"].startswith("[=========================>")
    assert [m["status"] for m in out[4:]] == ["Verifying Checksum", "Download complete", "Extracting",
                                               "Pull complete", "Digest: sha256:" + "f" * 64,
                                               "Status: Downloaded newer image for busybox:latest"]
    out.clear()
    p.done("sha256:" + "f" * 64, updated=False)
    assert out[-1] == {"status": "Status: Image is up to date for busybox:latest"}


def test_push_transcript():
    out = []
    p = PushProgress(out.append, repository_name="127.0.0.1:5000/app", tag="v1")
    p(ProgressEvent(PUSHING, D, 10, 20))
    p(ProgressEvent(PUSHED, D))
    p(ProgressEvent(MOUNTED, D, detail="other/repo"))
    p(ProgressEvent(LAYER_EXISTS, D))
    p(ProgressEvent(MANIFEST_PUSHED, "sha256:" + "a" * 64, total=527, detail="sha256:" + "a" * 64))
    assert out[0] == {"status": "The push refers to repository [127.0.0.1:5000/app]"}
    assert [m["status"] for m in out[1:5]] == ["Pushing", "Pushed", "Mounted from other/repo", "Layer already exists"]
    assert out[5] == {"status": "v1: digest: sha256:" + "a" * 64 + " size: 527"}
    assert out[6] == {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": "sha256:" + "a" * 64, "Size": 527}}


def test_layer_compression_helpers(tmp_path):
    import gzip
    import hashlib
    from pycontainerd.registry.compression import chain_ids, diff_id, open_layer
    from pycontainerd.registry.mediatypes import sniff_compression
    raw = b"a tar would be here" * 100
    (tmp_path / "plain").write_bytes(raw)
    (tmp_path / "gz").write_bytes(gzip.compress(raw))
    want = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert diff_id(str(tmp_path / "plain")) == diff_id(str(tmp_path / "gz")) == want
    with open_layer(str(tmp_path / "gz")) as f:
        assert f.read() == raw
    assert sniff_compression(b"\x28\xb5\x2f\xfd....") == "zstd" and sniff_compression(b"ustar") == "none"
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]
