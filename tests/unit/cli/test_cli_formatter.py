"""Tables and the Go text/template subset used by --format."""
import pytest

from cli import formatter as fmt


def test_tabwriter_docker_widths():
    out = fmt.tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox:latest\tx\n")
    assert out == ("CONTAINER ID   IMAGE            NAMES\n"
                   "abc            busybox:latest   x\n")


def test_tabwriter_minwidth_and_empty_cells():
    out = fmt.tabwrite("A\tPORTS\tNAMES\nx\t\tn\n")
    assert out.splitlines() == ["A         PORTS     NAMES", "x                   n"]


def test_tabwriter_blocks_end_at_lines_without_the_column():
    out = fmt.tabwrite("a\tb\nno tabs here\nlonger cell\tc\n", minwidth=0, padding=1)
    assert out.splitlines() == ["a b", "no tabs here", "longer cell c"]


def test_render_table_with_headers():
    rows = [fmt.Row(ID="abc", Names="web"), fmt.Row(ID="defabc", Names="db")]
    out = fmt.render("table {{.ID}}\\t{{.Names}}", rows, {"ID": "CONTAINER ID", "Names": "NAMES"})
    assert out == "CONTAINER ID   NAMES\nabc            web\ndefabc         db\n"


def test_render_plain_keeps_tabs():
    assert fmt.render("{{.ID}}\\t{{.Names}}", [fmt.Row(ID="a", Names="b")]) == "a\tb\n"


def test_table_header_only_when_no_rows():
    assert fmt.render("table {{.ID}}", [], {"ID": "CONTAINER ID"}) == "CONTAINER ID\n"


def test_template_features():
    data = {"ID": "ab<", "State": {"Status": "running"}, "Labels": {"a": "b"}, "L": [1, 2], "N": None}
    t = fmt.Template('{{json .State}} {{.State.Status}} {{index .Labels "a"}} '
                     '{{if .N}}y{{else}}n{{end}} {{range .L}}[{{.}}]{{end}} {{join .L ","}} '
                     '{{upper .ID | printf "%s!"}} {{json .ID}} {{.Missing}} {{with .State}}{{.Status}}{{end}}')
    assert t.render(data) == ('{"Status":"running"} running b n [1][2] 1,2 AB<! "ab\\u003c" '
                              '<no value> running')


def test_strict_maps_error_like_inspect():
    t = fmt.Template("{{.State.Foo}}", strict=True)
    with pytest.raises(fmt.TemplateError) as e:
        t.render({"State": {}})
    assert e.value.message == 'template: :1:8: executing "" at <.State.Foo>: map has no entry for key "Foo"'


def test_row_unknown_field_names_the_context_type():
    t = fmt.Template("x {{.ID}} {{.Foo}}", row_type="*formatter.ContainerContext")
    with pytest.raises(fmt.TemplateError) as e:
        t.render(fmt.Row(ID="1"))
    assert "at <.Foo>: can't evaluate field Foo in type *formatter.ContainerContext" in e.value.message
    assert ":1:12:" in e.value.message


@pytest.mark.parametrize("src,message", [
    ("{{.ID", "template: :1: unclosed action"),
    ("{{nofunc .}}", 'template: :1: function "nofunc" not defined'),
    ("{{if .A}}x", "template: :1: unexpected EOF"),
])
def test_parse_errors(src, message):
    with pytest.raises(fmt.TemplateError) as e:
        fmt.Template(src)
    assert e.value.message == message and e.value.parse


def test_go_values():
    assert fmt.go_str(1e6) == "1e+06" and fmt.go_str(2.0) == "2" and fmt.go_str(0.5) == "0.5"
    assert fmt.go_str([1, "a"]) == "[1 a]" and fmt.go_str({"b": 1, "a": None}) == "map[a:<nil> b:1]"
    assert fmt.go_str(True) == "true" and fmt.go_str(None) == "<nil>"


def test_quote_and_ellipsis():
    assert fmt.go_quote('sh -c "x"\n') == '"sh -c \\"x\\"\\n"'
    assert fmt.ellipsis("abcdefghij", 5) == "abcd…" and fmt.ellipsis("abc", 5) == "abc"
    assert fmt.go_json({"a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e"}'


def test_method_calls_with_arguments_and_headers():
    row = fmt.Row(Names="web")
    row.methods = {"Label": lambda k: {"com.x.my-label": "z"}.get(k, "")}
    out = fmt.render('table {{.Names}}\\t{{.Label "com.x.my-label"}}', [row], {"Names": "NAMES"},
                     row_type="*formatter.ContainerContext")
    assert out == "NAMES     my label\nweb       z\n"
    with pytest.raises(fmt.TemplateError, match="wrong number of args for Names: want 0 got 1"):
        fmt.Template('{{.Names "x"}}').render(row)
    with pytest.raises(fmt.TemplateError, match="wrong number of args for Label: want 1 got 0"):
        fmt.Template("{{.Label}}").render(row)


def test_go_indent_keeps_the_daemons_bytes():
    raw = '{"A":"<&>\\u003c","B":[],"C":{},"D":[1,{"e":null}],"F":"a\\"b, c: d"}\n'
    assert fmt.go_indent(raw) == ('{\n    "A": "<&>\\u003c",\n    "B": [],\n    "C": {},\n    "D": [\n        1,\n'
                                  '        {\n            "e": null\n        }\n    ],\n    "F": "a\\"b, c: d"\n}')
    import json
    assert json.loads(fmt.go_indent(raw)) == json.loads(raw)
