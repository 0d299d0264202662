"""JSON message stream rendering (pull/load/import/build output)."""
import io

import pytest

from cli.progress import StreamError, display_stream, progress_string


def test_non_terminal_skips_progress_bars():
    out = io.StringIO()
    display_stream([
        {"status": "Pulling from library/busybox", "id": "latest"},
        {"status": "Downloading", "id": "abc", "progressDetail": {"current": 5, "total": 10}},
        {"status": "Pull complete", "id": "abc", "progressDetail": {}},
        {"stream": "Loaded image: busybox:latest\n"},
        {"aux": {"ID": "sha256:x"}},
        {"status": "Status: Downloaded newer image for busybox:latest"},
    ], out, terminal=False)
    assert out.getvalue() == ("latest: Pulling from library/busybox\nabc: Pull complete\n"
                              "Loaded image: busybox:latest\nStatus: Downloaded newer image for busybox:latest\n")


def test_aux_callback_and_error_detail():
    seen = []
    out = io.StringIO()
    with pytest.raises(StreamError) as e:
        display_stream([{"aux": {"ID": "sha256:1"}}, {"errorDetail": {"message": "boom", "code": 2},
                                                        "error": "boom"}], out, False, seen.append)
    assert seen == [{"ID": "sha256:1"}] and e.value.message == "boom" and e.value.code == 2


def test_bare_error_field_is_not_a_failure_for_the_go_cli():
    out = io.StringIO()
    display_stream([{"error": "only legacy field"}], out, terminal=False)
    assert out.getvalue() == "\n"


def test_terminal_moves_cursor_per_layer():
    out = io.StringIO()
    display_stream([{"status": "Downloading", "id": "l1", "progressDetail": {"current": 1, "total": 2}},
                    {"status": "Downloading", "id": "l2", "progressDetail": {"current": 1, "total": 4}},
                    {"status": "Done", "id": "l1", "progressDetail": {}}], out, terminal=True)
    v = out.getvalue()
    assert "\x1b[1A" in v and "\x1b[2A" in v and "l1: Done" in v


def test_progress_string():
    assert progress_string({"current": 500000, "total": 1000000}, 200) == \
        "[=========================>                         ]    500kB/1MB"
    assert progress_string({"current": 500000, "total": 1000000}, 80) == "   500kB/1MB"
    assert progress_string({"current": 3, "total": 0}, 200) == "      3B"
    assert progress_string({}, 200) == ""


def test_progress_sizes_use_four_significant_digits():
    # units.HumanSize, as the Go CLI prints: 8.391MB, not 8.39MB
    assert progress_string({"current": 8391000, "total": 8391000}, 80) == " 8.391MB/8.391MB"
