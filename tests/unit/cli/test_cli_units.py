"""go-units and Go time formatting."""
import pytest

from cli import units


@pytest.mark.parametrize("n,text", [(0, "0B"), (100, "100B"), (1989000, "1.99MB"), (1000, "1kB"),
                                    (123456789, "123MB"), (5.5e9, "5.5GB")])
def test_human_size(n, text):
    assert units.human_size(n) == text


def test_bytes_size():
    assert units.bytes_size(23.54 * 1024 ** 3) == "23.54GiB"
    assert units.bytes_size(512) == "512B"


@pytest.mark.parametrize("secs,text", [(0.3, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
                                       (60, "About a minute"), (600, "10 minutes"), (3600, "About an hour"),
                                       (5 * 3600, "5 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
                                       (90 * 86400, "3 months"), (800 * 86400, "2 years")])
def test_human_duration(secs, text):
    assert units.human_duration(secs) == text


def test_rfc3339():
    assert units.parse_rfc3339("1970-01-01T00:01:00.5Z") == 60.5
    assert units.parse_rfc3339("1970-01-01T01:00:00+01:00") == 0
    assert units.parse_rfc3339("0001-01-01T00:00:00Z") is None
    assert units.parse_rfc3339("garbage") is None


def test_durations_and_bytes():
    assert units.parse_go_duration("1m30s") == 90 and units.parse_go_duration("500ms") == 0.5
    assert units.parse_go_duration("10") == 10
    with pytest.raises(ValueError):
        units.parse_go_duration("5x")
    assert units.go_duration(62) == "1m2s" and units.go_duration(0) == "0s"
    assert units.parse_bytes("64m") == 64 << 20 and units.parse_bytes("1GiB") == 1 << 30
    assert units.parse_bytes("512kb") == 512 << 10 and units.parse_bytes("100") == 100
    with pytest.raises(ValueError):
        units.parse_bytes("lots")


def test_rfc3339_matches_calendar():
    import calendar
    for stamp in ("2000-02-29T12:00:00Z", "2026-11-28T08:01:01Z", "1969-12-31T23:59:59Z", "2100-03-01T00:00:00Z"):
        date, clock = stamp.rstrip("Z").split("T")
        tup = tuple(int(x) for x in date.split("-")) + tuple(int(x) for x in clock.split(":"))
        assert units.parse_rfc3339(stamp) == calendar.timegm(tup + (0, 0, 0))
