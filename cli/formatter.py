"""Output formatting: Go's tabwriter, a text/template subset, and Docker's table/--format handling."""
from __future__ import annotations

from cli import jsoncodec as json
from cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

NO_VALUE = object()  # a missing map key: Go prints "<no value>"


# -- Go-compatible value rendering --------------------------------------------------------------
def go_json(value: Any) -> str:
    """json.Marshal: compact, with <, >, & escaped as Go's HTML-safe encoder does."""
    if isinstance(value, Row):
        value = dict(sorted(value.items()))  # the CLI's format contexts marshal as maps: sorted keys
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_quote(s: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif not ch.isprintable():
            out.append("\\u%04x" % o if o <= 0xFFFF else "\\U%08x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def ellipsis(s: str, width: int) -> str:
    """formatter.Ellipsis: cut to width display cells, ending with "…"."""
    if len(s) <= width:
        return s
    if width <= 1:
        return s[:width]
    return s[: width - 1] + "…"


def go_str(value: Any) -> str:
    """fmt.Sprint of a decoded JSON value."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_float(v: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), which is what %v prints for a float64."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    sign = "-" if v < 0 else ""
    s = repr(abs(v))
    if "e" in s:
        m, ex = s.split("e")
        digits, dp = m.replace(".", "").rstrip("0"), int(ex) + 1
    else:
        ip, _, fp = s.partition(".")
        if ip != "0":
            digits, dp = (ip + fp).rstrip("0"), len(ip)
        else:
            stripped = fp.lstrip("0")
            digits, dp = stripped.rstrip("0"), -(len(fp) - len(stripped))
    if not digits:
        return "0"
    exp = dp - 1
    if exp < -4 or exp >= 6:  # shortest formatting decides with precision 6 (see strconv/ftoa.go)
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_indent(raw: str, indent: str = "    ") -> str:
    """encoding/json.Indent: re-indent JSON text without re-encoding it (escapes stay as sent)."""
    out: list[str] = []
    depth = 0
    need_indent = in_str = esc = False
    for c in raw:
        if in_str:
            out.append(c)
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
            continue
        if c in " \t\r\n":
            continue
        if c in "]}":
            if need_indent:
                need_indent = False  # empty collection stays [] / {}
                depth -= 1
            else:
                depth -= 1
                out.append("\n" + indent * depth)
            out.append(c)
            continue
        if need_indent:
            out.append("\n" + indent * depth)
            need_indent = False
        out.append(c)
        if c in "[{":
            need_indent = True
            depth += 1
        elif c == ",":
            out.append("\n" + indent * depth)
        elif c == ":":
            out.append(" ")
        elif c == '"':
            in_str = True
    return "".join(out)


# -- tabwriter ----------------------------------------------------------------------------------
def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """text/tabwriter with Docker's settings (minwidth 10, tabwidth 1, padding 3, ' ', no flags)."""
    trailing_nl = text.endswith("\n")
    raw_lines = text.split("\n")
    if trailing_nl:
        raw_lines.pop()
    lines = [ln.split("\t") for ln in raw_lines]
    out: list[str] = []
    widths: list[int] = []

    def write(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, c in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(c.ljust(widths[j]))
                else:
                    parts.append(c)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1:
                cells = lines[this]
                if column >= len(cells) - 1:
                    break
                width = max(width, len(cells[column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if trailing_nl else "")


# -- text/template subset -----------------------------------------------------------------------
class TemplateError(CLIError):
    """Parse or execution failure; `parse` tells them apart (inspect exits 64 on parse errors)."""

    def __init__(self, message: str, parse: bool = False) -> None:
        super().__init__(message, 1)
        self.parse = parse


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    return "interface {}"


class _Tok(str):
    """A token that remembers its offset in the template source (for Go-style error positions)."""

    pos = 0


def _tok(text: str, pos: int) -> _Tok:
    t = _Tok(text)
    t.pos = pos
    return t


def _tokenize_action(src: str, base: int = 0) -> list[str]:
    toks, i = [], 0
    while i < len(src):
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "|()":
            toks.append(c)
            i += 1
        elif c == '"':
            j = i + 1
            while j < len(src) and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            toks.append(src[i:j + 1])
            i = j + 1
        elif c == "`":
            j = src.index("`", i + 1)
            toks.append(src[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < len(src) and not src[j].isspace() and src[j] not in "|()":
                j += 1
            toks.append(_tok(src[i:j], base + i))
            i = j
    return toks


def _literal(tok: str) -> Any:
    if tok.startswith('"'):
        return json.loads(tok)
    if tok.startswith("`"):
        return tok[1:-1]
    if tok in ("true", "false"):
        return tok == "true"
    if tok == "nil":
        return None
    try:
        return int(tok)
    except ValueError:
        return float(tok)


def _truth(v: Any) -> bool:
    return v not in (None, NO_VALUE, False, 0, "", [], {})


def _fn_json(v: Any) -> str:
    return go_json(v)


def _fn_join(v: Any, sep: str) -> str:
    return sep.join(go_str(x) for x in (v or []))


def _fn_split(s: str, sep: str) -> list:
    return s.split(sep)


def _fn_truncate(s: str, n: int) -> str:
    return s[:n]


def _fn_pad(s: str, left: int, right: int) -> str:
    return " " * left + s + " " * right


def _fn_index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, NO_VALUE)
        elif isinstance(v, list):
            v = v[k]
        else:
            raise TemplateError(f"can't index item of type {type(v).__name__}")
    return v


def _fn_printf(fmt: str, *args: Any) -> str:
    out, i, ai = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            verb = fmt[i + 1]
            i += 2
            if verb == "%":
                out.append("%")
                continue
            a = args[ai] if ai < len(args) else NO_VALUE
            ai += 1
            if verb == "q":
                out.append(go_quote(go_str(a)))
            elif verb == "d" and isinstance(a, (int, float)):
                out.append(str(int(a)))
            else:
                out.append(go_str(a))
            continue
        out.append(c)
        i += 1
    return "".join(out)


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _fn_json, "join": _fn_join, "split": _fn_split, "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(), "title": lambda s: go_str(s).title(), "truncate": _fn_truncate,
    "pad": _fn_pad, "index": _fn_index, "len": lambda v: len(v), "printf": _fn_printf,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n", "print": lambda *a: "".join(go_str(x) for x in a),
    "eq": lambda a, *b: any(a == x for x in b), "ne": lambda a, b: a != b, "not": lambda a: not _truth(a),
    "and": lambda *a: next((x for x in a if not _truth(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truth(x)), a[-1]),
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}


class Template:
    """A parsed Go template supporting fields, pipelines, functions, if/else, range and with."""

    def __init__(self, src: str, strict: bool = False, row_type: str = "interface {}") -> None:
        self.src = src
        self.strict = strict  # missingkey=error, as `docker inspect` parses its templates
        self._row_type = row_type
        self.nodes, rest, end = self._parse(self._lex(src), 0, ())
        if end is not None:
            raise TemplateError(f"template: :1: unexpected {{{{{end}}}}}", parse=True)

    @staticmethod
    def _lex(src: str) -> list[tuple[str, str]]:
        items, i = [], 0
        while True:
            j = src.find("{{", i)
            if j < 0:
                if i < len(src):
                    items.append(("text", src[i:]))
                return items
            k = src.find("}}", j + 2)
            if k < 0:
                raise TemplateError("template: :1: unclosed action", parse=True)
            text = src[i:j]
            body = src[j + 2:k]
            start = j + 2
            if body.startswith("-"):
                text, body, start = text.rstrip(), body[1:], start + 1
            trim_right = body.endswith("-")
            if trim_right:
                body = body[:-1]
            if text:
                items.append(("text", text))
            stripped = body.lstrip()
            items.append(("action", _tok(stripped.rstrip(), start + len(body) - len(stripped))))
            i = k + 2
            if trim_right:
                while i < len(src) and src[i].isspace():
                    i += 1

    def _parse(self, items: list, pos: int, stop: tuple[str, ...]) -> tuple[list, int, str | None]:
        nodes: list = []
        while pos < len(items):
            kind, val = items[pos]
            pos += 1
            if kind == "text":
                nodes.append(("text", val))
                continue
            word = val.split(None, 1)[0] if val else ""
            if word in ("end", "else") and word in stop:
                return nodes, pos, word
            if word in ("end", "else"):
                raise TemplateError(f"template: :1: unexpected {{{{{word}}}}}", parse=True)
            if word in ("if", "range", "with"):
                pipe = self._pipeline(_tok(val[len(word):], val.pos + len(word)))
                body, pos, how = self._parse(items, pos, ("end", "else"))
                other: list = []
                if how == "else":
                    other, pos, how = self._parse(items, pos, ("end",))
                if how != "end":
                    raise TemplateError("template: :1: unexpected EOF", parse=True)
                nodes.append((word, pipe, body, other))
                continue
            if val.startswith("/*"):
                continue
            nodes.append(("action", self._pipeline(val)))
        return nodes, pos, None

    def _pipeline(self, src: str) -> list[list]:
        toks = _tokenize_action(src, getattr(src, "pos", 0))
        if not toks:
            raise TemplateError("template: :1: missing value for command", parse=True)
        for t in toks:
            if t[:1].isalpha() and t not in FUNCS and t not in ("true", "false", "nil"):
                raise TemplateError(f'template: :1: function "{t}" not defined', parse=True)
        cmds, cur, depth, sub = [], [], 0, []
        for t in toks:
            if depth:
                if t == "(":
                    depth += 1
                elif t == ")":
                    depth -= 1
                    if depth == 0:
                        first = sub[0].pos if sub and isinstance(sub[0], _Tok) else 0
                        cur.append(("pipe", self._pipeline(_tok(" " * 0 + " ".join(sub), first))))
                        sub = []
                        continue
                sub.append(t)
            elif t == "(":
                depth = 1
            elif t == "|":
                cmds.append(cur)
                cur = []
            else:
                cur.append(t)
        cmds.append(cur)
        return cmds

    def _field(self, dot: Any, path: str, root: Any) -> Any:
        base = root if path.startswith("$") else dot
        parts = [p for p in path.lstrip("$").split(".") if p]
        pos = getattr(path, "pos", 0) + path.rfind(".")
        where = f'template: :1:{pos}: executing "" at <{path}>'
        v = base
        for p in parts:
            if isinstance(v, Row) and p in v.methods:
                want = v.methods[p].__code__.co_argcount
                raise TemplateError(f"{where}: wrong number of args for {p}: want {want} got 0")
            if isinstance(v, Row) or hasattr(v, "field"):
                v = v.field(p)
                if v is NO_VALUE:
                    raise TemplateError(f"{where}: can't evaluate field {p} in type {self._row_type}")
            elif isinstance(v, dict):
                if p not in v:
                    if self.strict:
                        raise TemplateError(f'{where}: map has no entry for key "{p}"')
                    v = NO_VALUE
                else:
                    v = v[p]
            elif v is None or v is NO_VALUE:
                raise TemplateError(f"{where}: nil pointer evaluating interface {{}}.{p}")
            else:
                raise TemplateError(f"{where}: can't evaluate field {p} in type {_go_type(v)}")
        return v

    def _call_method(self, path: str, args: list, dot: Any, root: Any) -> Any:
        """`.Label "k"`: a method of the row context called with arguments."""
        parent, _, name = path.rpartition(".")
        obj = self._field(dot, parent, root) if parent not in ("", "$") else (root if parent == "$" else dot)
        pos = getattr(path, "pos", 0) + path.rfind(".")
        call = getattr(obj, "call", None)
        if call is None:
            raise TemplateError(f'template: :1:{pos}: executing "" at <{path}>: '
                                f"can't give argument to non-function {path}")
        return call(name, args, f'template: :1:{pos}: executing "" at <{path}>', self._row_type)

    def _arg(self, tok: Any, dot: Any, root: Any) -> Any:
        if isinstance(tok, tuple):
            return self._exec_pipe(tok[1], dot, root)
        if tok.startswith(".") or tok.startswith("$"):
            return self._field(dot, tok, root)
        if tok in FUNCS:
            return FUNCS[tok]()
        return _literal(tok)

    def _exec_pipe(self, cmds: list[list], dot: Any, root: Any) -> Any:
        value: Any = NO_VALUE
        for i, cmd in enumerate(cmds):
            if not cmd:
                raise TemplateError("template: :1: missing value for command")
            head = cmd[0]
            if isinstance(head, str) and head[:1] in ".$" and len(cmd) > 1:
                value = self._call_method(head, [self._arg(t, dot, root) for t in cmd[1:]], dot, root)
                continue
            if isinstance(head, str) and head in FUNCS:
                args = [self._arg(t, dot, root) for t in cmd[1:]]
                if i > 0:
                    args.append(value)
                try:
                    value = FUNCS[head](*args)
                except TemplateError:
                    raise
                except Exception as e:
                    raise TemplateError(f'template: :1: executing "" at <{head}>: error calling {head}: {e}') from None
            else:
                value = self._arg(head, dot, root)
        return value

    def _exec(self, nodes: list, dot: Any, root: Any, out: list[str]) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                out.append(go_str(self._exec_pipe(node[1], dot, root)))
            elif kind == "if":
                self._exec(node[2] if _truth(self._exec_pipe(node[1], dot, root)) else node[3], dot, root, out)
            elif kind == "with":
                v = self._exec_pipe(node[1], dot, root)
                if _truth(v):
                    self._exec(node[2], v, root, out)
                else:
                    self._exec(node[3], dot, root, out)
            elif kind == "range":
                v = self._exec_pipe(node[1], dot, root)
                seq = [v[k] for k in sorted(v)] if isinstance(v, dict) else list(v or [])
                if not seq:
                    self._exec(node[3], dot, root, out)
                for item in seq:
                    self._exec(node[2], item, root, out)

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._exec(self.nodes, data, data, out)
        return "".join(out)


# -- Docker's --format handling -----------------------------------------------------------------
def is_table(fmt: str) -> bool:
    return fmt.startswith("table")


def prepare_format(fmt: str) -> str:
    """Strip the table prefix and expand the \\t and \\n escapes as formatter.Context.preFormat does."""
    if is_table(fmt):
        fmt = fmt[len("table"):]
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def render(fmt: str, rows: Iterable[Any], headers: dict[str, str] | None = None,
           default_table: str = "", row_type: str = "interface {}") -> str:
    """Render rows with a Docker --format string; tables get a header row and the tabwriter."""
    if fmt == "table" and default_table:
        fmt = default_table
    if fmt == "json":
        fmt = "{{json .}}"  # the CLI's shorthand for one JSON object per line
    table = is_table(fmt)
    try:
        tmpl = Template(prepare_format(fmt), row_type=row_type)
        parts = [tmpl.render(row) + "\n" for row in rows]
    except TemplateError as e:
        raise CLIError(f"template parsing error: {e.message}") from None
    body = "".join(parts)
    if not table:
        return body
    head = ""
    if headers is not None:
        head = tmpl.render(_HeaderContext(headers))
        head = head + "\n" if head.strip() or parts else head
    if not head.strip() and not parts:
        return ""
    return tabwrite(head + body)


class _HeaderContext:
    """Stands in for a row while rendering the header: every field renders its column title."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def field(self, name: str) -> Any:
        return self.headers.get(name, name.upper())

    def call(self, name: str, args: list, where: str, row_type: str) -> Any:
        if name == "Label" and args:
            # ContainerContext.Label: the header is the label's last dotted part, - and _ as spaces
            return str(args[0]).split(".")[-1].replace("-", " ").replace("_", " ")
        return name.upper()


class Row(dict):
    """A table row: a dict of display values; `methods` holds the context's callable fields."""

    methods: dict[str, Callable[..., Any]] = {}

    def field(self, name: str) -> Any:
        return self.get(name, NO_VALUE)

    def call(self, name: str, args: list, where: str, row_type: str) -> Any:
        fn = self.methods.get(name)
        if fn is None:
            if name in self:  # every context field is a Go method without parameters
                raise TemplateError(f"{where}: wrong number of args for {name}: want 0 got {len(args)}")
            raise TemplateError(f"{where}: can't evaluate field {name} in type {row_type}")
        want = fn.__code__.co_argcount
        if want != len(args):
            raise TemplateError(f"{where}: wrong number of args for {name}: want {want} got {len(args)}")
        return fn(*args)
