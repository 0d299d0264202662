"""A YAML subset sufficient for compose files: block mappings and sequences, flow collections,
quoted and plain scalars, literal/folded block scalars and comments (no anchors or tags).

The CLI stays stdlib-only, and compose files use a small, regular part of YAML.
"""
from __future__ import annotations

from cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class YAMLError(CLIError):
    pass


def _strip_comment(text: str) -> str:
    """Drop a `# comment` that is outside quotes and preceded by whitespace (or starts the text)."""
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
            continue
        if c in "'\"" and (i == 0 or text[i - 1] in " \t[{,:"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _split_key(text: str) -> tuple[str, str] | None:
    """Split `key: value` at the first mapping colon outside quotes and brackets."""
    quote, depth = "", 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
            continue
        if c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == ":" and depth == 0 and (i + 1 == len(text) or text[i + 1] in " \t"):
            return text[:i].strip(), text[i + 1:].strip()
    return None


def _plain(text: str) -> Any:
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    try:
        return int(text, 0) if not text.lstrip("+-").startswith("0") or text.lstrip("+-") == "0" else int(text)
    except ValueError:
        pass
    try:
        if any(c.isdigit() for c in text) and not text.isalpha():
            return float(text)
    except ValueError:
        pass
    return text


def _quoted(text: str, line: int) -> tuple[str, int]:
    """Parse a quoted scalar at the start of text; return (value, characters consumed)."""
    q = text[0]
    out, i = [], 1
    while i < len(text):
        c = text[i]
        if q == "'" and c == "'":
            if text[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        if q == '"' and c == "\\":
            nxt = text[i + 1:i + 2]
            esc = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "r": "\r", "0": "\0", " ": " ",
                   "e": "\x1b", "a": "\a", "b": "\b"}
            if nxt in esc:
                out.append(esc[nxt])
                i += 2
                continue
            if nxt in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                out.append(chr(int(text[i + 2:i + 2 + width], 16)))
                i += 2 + width
                continue
            raise YAMLError(f"yaml: line {line}: found unknown escape character")
        if q == '"' and c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise YAMLError(f"yaml: line {line}: found unexpected end of stream")


def _flow(text: str, line: int) -> tuple[Any, int]:
    """Parse a flow value ([..], {..}, quoted or plain up to , ] }) at the start of text."""
    i = 0
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None, i
    c = text[i]
    if c in "'\"":
        value, n = _quoted(text[i:], line)
        return value, i + n
    if c in "[{":
        close = "]" if c == "[" else "}"
        items: Any = [] if c == "[" else {}
        i += 1
        while True:
            while i < len(text) and text[i] in " \n":
                i += 1
            if i < len(text) and text[i] == close:
                return items, i + 1
            if c == "[":
                value, n = _flow(text[i:], line)
                items.append(value)
            else:
                key, n = _flow(text[i:], line)
                i += n
                while i < len(text) and text[i] == " ":
                    i += 1
                value = None
                if i < len(text) and text[i] == ":":
                    value, n = _flow(text[i + 1:], line)
                    n += 1
                else:
                    n = 0
                items[key] = value
            i += n
            while i < len(text) and text[i] == " ":
                i += 1
            if i < len(text) and text[i] == ",":
                i += 1
                continue
            if i < len(text) and text[i] == close:
                return items, i + 1
            raise YAMLError(f"yaml: line {line}: did not find expected ',' or '{close}'")
    j = i
    while j < len(text) and text[j] not in ",]}" and not (text[j] == ":" and text[j + 1:j + 2] in (" ", "")):
        j += 1
    return _plain(text[i:j].strip()), j


class _Parser:
    def __init__(self, source: str) -> None:
        self.raw = source.expandtabs(1).split("\n")
        self.pos = 0

    def _next_content(self, start: int) -> int:
        """Index of the next line that is neither blank nor only a comment."""
        i = start
        while i < len(self.raw):
            stripped = self.raw[i].strip()
            if stripped and not stripped.startswith("#") and stripped not in ("---", "..."):
                return i
            i += 1
        return i

    def _indent(self, i: int) -> int:
        line = self.raw[i]
        return len(line) - len(line.lstrip(" "))

    def parse(self) -> Any:
        self.pos = self._next_content(0)
        if self.pos >= len(self.raw):
            return None
        value = self._block(self._indent(self.pos))
        end = self._next_content(self.pos)
        if end < len(self.raw):
            raise YAMLError(f"yaml: line {end + 1}: did not find expected key")
        return value

    def _block(self, indent: int) -> Any:
        text = self.raw[self.pos].strip()
        if text == "-" or text.startswith("- "):
            return self._sequence(indent)
        if _split_key(_strip_comment(text)) is None:
            value = self._scalar_text(_strip_comment(text), indent)
            return value
        return self._mapping(indent)

    def _scalar_text(self, text: str, indent: int) -> Any:
        """A scalar value that may continue on more-indented lines (plain multi-line) or be flow."""
        line = self.pos + 1
        if text and text[0] in "[{" and not self._balanced(text):
            # a flow collection over several lines
            parts = [text]
            i = self.pos + 1
            while i < len(self.raw) and not self._balanced(" ".join(parts)):
                parts.append(_strip_comment(self.raw[i].strip()))
                i += 1
            self.pos = i
            value, _ = _flow(" ".join(parts), line)
            return value
        self.pos += 1
        if text and text[0] in "[{'\"":
            value, _ = _flow(text, line)
            return value
        return _plain(text)

    @staticmethod
    def _balanced(text: str) -> bool:
        depth, quote = 0, ""
        for c in text:
            if quote:
                if c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
        return depth <= 0

    def _block_scalar(self, header: str, parent_indent: int) -> str:
        style, chomp = header[0], header[1:].strip()
        lines: list[str] = []
        i = self.pos + 1
        block_indent = None
        while i < len(self.raw):
            line = self.raw[i]
            if line.strip() == "":
                lines.append("")
                i += 1
                continue
            ind = len(line) - len(line.lstrip(" "))
            if ind <= parent_indent:
                break
            if block_indent is None:
                block_indent = ind
            if ind < block_indent:
                break
            lines.append(line[block_indent:])
            i += 1
        self.pos = i
        while lines and lines[-1] == "" and chomp != "+":
            lines.pop()
        if style == "|":
            text = "\n".join(lines)
        else:
            text = ""
            for ln in lines:
                if not ln:
                    text += "\n"
                elif text and not text.endswith("\n"):
                    text += " " + ln
                else:
                    text += ln
        if chomp == "-":
            return text
        return text + "\n" if text or chomp == "+" else text

    def _value_after(self, rest: str, indent: int) -> Any:
        """The value of `key: rest` or `- rest` whose own line is at indent."""
        rest = _strip_comment(rest)
        if rest[:1] in ("|", ">"):
            return self._block_scalar(rest, indent)
        if rest:
            return self._scalar_text(rest, indent)
        nxt = self._next_content(self.pos + 1)
        if nxt < len(self.raw):
            ind = self._indent(nxt)
            text = self.raw[nxt].strip()
            if ind > indent or (ind == indent and (text == "-" or text.startswith("- "))):
                self.pos = nxt
                return self._block(ind)
        self.pos += 1
        return None

    def _mapping(self, indent: int) -> dict:
        out: dict = {}
        while self.pos < len(self.raw):
            self.pos = self._next_content(self.pos)
            if self.pos >= len(self.raw) or self._indent(self.pos) != indent:
                break
            text = self.raw[self.pos].strip()
            if text == "-" or text.startswith("- "):
                break
            kv = _split_key(_strip_comment(text))
            if kv is None:
                raise YAMLError(f"yaml: line {self.pos + 1}: could not find expected ':'")
            key_text = kv[0]
            key = _flow(key_text, self.pos + 1)[0] if key_text[:1] in "'\"" else _plain(key_text)
            rest = _after_key(text, key_text)
            if key in out:
                raise YAMLError(f'yaml: line {self.pos + 1}: mapping key "{key}" already defined')
            out[key] = self._value_after(rest.strip(), indent)
        return out

    def _sequence(self, indent: int) -> list:
        out: list = []
        while self.pos < len(self.raw):
            self.pos = self._next_content(self.pos)
            if self.pos >= len(self.raw) or self._indent(self.pos) != indent:
                break
            text = self.raw[self.pos].strip()
            if not (text == "-" or text.startswith("- ")):
                break
            rest = text[1:].lstrip(" ")
            if rest and _split_key(_strip_comment(rest)) is not None and rest[:1] not in "[{\"'":
                # "- key: value": a mapping whose keys sit where the item text starts
                item_indent = indent + (len(text) - len(rest))
                self.raw[self.pos] = " " * item_indent + rest
                out.append(self._mapping(item_indent))
            else:
                out.append(self._value_after(rest, indent))
        return out


def _after_key(text: str, key_text: str) -> str:
    """What follows `key:` on a mapping line (the text starts with the key, possibly quoted)."""
    rest = text[len(key_text):].lstrip()
    return rest[1:] if rest.startswith(":") else rest


def loads(source: str) -> Any:
    """Parse one YAML document (the compose subset)."""
    return _Parser(source).parse()


def _needs_quotes(s: str) -> bool:
    if s == "" or s != s.strip() or "\n" in s:
        return True
    if s[0] in "!&*-?{}[],#|>@`\"'%:" and not (s[0] == "-" and len(s) > 1 and s[1] != " "):
        return True
    if ": " in s or " #" in s or s.endswith(":"):
        return True
    return _plain(s) != s  # would read back as a number, bool or null


def _scalar_out(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _needs_quotes(s):
        from cli import jsoncodec
        return jsoncodec.dumps(s, ensure_ascii=False)
    return s


def dumps(value: Any, indent: int = 0) -> str:
    """Emit block-style YAML for dicts, lists and scalars (what `compose config` prints)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for k, v in value.items():
            key = _scalar_out(k)
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:\n{dumps(v, indent + 2 if isinstance(v, dict) else indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_inline(v)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for v in value:
            if isinstance(v, dict) and v:
                inner = dumps(v, indent + 2)
                out.append(f"{pad}- {inner[indent + 2:]}")
            elif isinstance(v, list) and v:
                out.append(f"{pad}-\n{dumps(v, indent + 2)}")
            else:
                out.append(f"{pad}- {_inline(v)}\n")
        return "".join(out)
    return pad + _inline(value) + "\n"


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar_out(v)
