import json

import pytest

from pydockerd.daemon.container import Container, ContainerStore, now_rfc3339, parse_rfc3339
from pydockerd.daemon.logs import JSONFileWriter, LogQuery, read_entries
from pydockerd.daemon.names import NameRegistry
from pydockerd.errors import Conflict, InvalidParameter
from pydockerd.httputils import parse_filters
from pydockerd.stdcopy import demux, frame


def test_json_file_lines_and_partial(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = JSONFileWriter(path)
    assert [e.data for e in w.write("stdout", b"a\nb")] == [b"a\n"]
    w.write("stderr", b"err\n")
    w.write("stdout", b"c\n")
    w.flush()
    w.close()
    lines = [json.loads(x) for x in open(path, "rb")]
    assert [(x["stream"], x["log"]) for x in lines] == [("stdout", "a\n"), ("stderr", "err\n"), ("stdout", "bc\n")]
    assert lines[0]["time"].endswith("Z") and len(lines[0]["time"].split(".")[1]) == 10
    assert [e.data for e in read_entries(path, LogQuery(stderr=False))] == [b"a\n", b"bc\n"]
    assert [e.data for e in read_entries(path, LogQuery(tail=1))] == [b"bc\n"]
    assert read_entries(path, LogQuery(tail=0)) == []


def test_rfc3339_roundtrip():
    t = now_rfc3339()
    assert abs(parse_rfc3339(t) - parse_rfc3339(t[:19] + "Z")) < 1
    assert parse_rfc3339("0001-01-01T00:00:00Z") == 0.0


def test_names():
    reg = NameRegistry()
    assert reg.validate("web-1") == "/web-1"
    with pytest.raises(InvalidParameter, match=r"Invalid container name \(x\)"):
        reg.validate("x")
    reg.reserve("/web", "id1")
    with pytest.raises(Conflict, match='The container name "/web" is already in use by container "id1"'):
        reg.reserve("web", "id2")
    gen = reg.generate("id3")
    assert gen.startswith("/") and reg.get(gen) == "id3"
    reg.release("web")
    reg.reserve("web", "id2")


def test_store_atomic_roundtrip(tmp_path):
    store = ContainerStore(str(tmp_path))
    c = Container(ID="b" * 64, Name="/n", Created=now_rfc3339(), Path="sh", Args=[], Config={"Tty": False},
                  HostConfig={}, Image="sha256:" + "c" * 64)
    c.State.set_running(42)
    store.save(c)
    (tmp_path / ("d" * 64)).mkdir()  # a half-created directory is skipped
    [back] = store.load_all()
    assert back == c and back.State.Pid == 42
    assert not list(tmp_path.glob("*/.config.v2.json.tmp"))


def test_store_saves_are_readable_at_once_and_deletes_stay_deleted(tmp_path):
    """Records are renamed into place before save returns (a restarted daemon reads them) and the
    background fsync never brings back a record deleted before it got to it."""
    store = ContainerStore(str(tmp_path))
    made = []
    for i in range(40):
        c = Container(ID=f"{i:064x}", Name=f"/n{i}", Created=now_rfc3339(), Path="sh", Args=[], Config={},
                      HostConfig={}, Image="sha256:" + "c" * 64)
        store.save(c)
        made.append(c)
    assert sorted(c.ID for c in ContainerStore(str(tmp_path)).load_all()) == [c.ID for c in made]
    for c in made[:20]:
        store.delete(c.ID)
    store.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == [c.ID for c in made[20:]]
    made[20].State.set_running(7)
    store.save(made[20])
    store.flush()
    assert {c.ID: c.State.Pid for c in ContainerStore(str(tmp_path)).load_all()}[made[20].ID] == 7


def test_filters_both_forms():
    assert parse_filters('{"label":{"a=b":true}}') == {"label": ["a=b"]}
    assert parse_filters('{"label":["a=b"],"status":["exited"]}') == {"label": ["a=b"], "status": ["exited"]}
    with pytest.raises(InvalidParameter):
        parse_filters("[1]")


def test_stdcopy():
    data = frame(1, b"out") + frame(2, b"err")
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x03"
    assert demux(data) == [(1, b"out"), (2, b"err")]
