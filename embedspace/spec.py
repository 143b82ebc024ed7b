"""The one grammar for space specs, and its parser.

    spec     := "concat:" part ("+" part)* options?     a composite of several spaces
              | single
    part     := single ("*" NUMBER)?                     a weighted part of a composite
    single   := base options?
    base     := NAME                                     a catalogue space: use-m3, e5-small, ...
              | "st:" REF                                sentence-transformers: hub name or local path
              | "open_clip:" ARCH "/" REF                open_clip architecture + pretrained tag or file
              | "open_clip:hf-hub:" ORG "/" REPO         open_clip model published on the hub
    options  := "[" key "=" value ("," key "=" value)* "]"
    REF, value := characters other than  [ ] + * , = "  and whitespace,
                  or a "double-quoted string" (backslash escapes \\" and \\\\)

Examples: `use-m3`, `e5-small[prefix=asymmetric]`, `st:sentence-transformers/all-MiniLM-L6-v2`,
`st:"/models/my model"`, `open_clip:ViT-B-32/laion2b_s34b_b79k`, `open_clip:ViT-B-32/openai[text=
"st:sentence-transformers/clip-ViT-B-32-multilingual-v1"]`, `use-m3[images=map:maps/emoji.npz]`,
`concat:glove-6b-50d+use-m3*0.7+e5-small`.

The parser only checks syntax. Which options a space takes, and their defaults, belong to the
space (see registry.py), which turns a parsed spec into its canonical form with every default
written out: that canonical text, plus a digest of the artifacts it uses, is the space id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SpecError

SPECIAL = set('[]+*,="') | {" ", "\t", "\n"}
PREFIXES = ("st", "open_clip")


@dataclass(frozen=True)
class SingleSpec:
    """One space: `kind` is 'named', 'st' or 'open_clip'."""

    kind: str
    name: str  # catalogue name, ST model ref, or open_clip architecture
    ref: str | None = None  # open_clip pretrained tag or checkpoint path
    options: tuple = field(default=())  # sorted (key, value) pairs

    def option(self, key, default=None):
        return dict(self.options).get(key, default)

    def with_options(self, options: dict) -> SingleSpec:
        return SingleSpec(self.kind, self.name, self.ref, tuple(sorted(options.items())))

    def __str__(self):
        return format_spec(self)


@dataclass(frozen=True)
class Part:
    spec: SingleSpec
    weight: float = 1.0


@dataclass(frozen=True)
class CompositeSpec:
    parts: tuple  # of Part
    options: tuple = field(default=())

    def option(self, key, default=None):
        return dict(self.options).get(key, default)

    def __str__(self):
        return format_spec(self)


def parse_spec(text: str) -> SingleSpec | CompositeSpec:
    """Parse a spec string; raises SpecError with the position of the problem."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("A space spec is empty; try 'use-m3' (run `embedspace spaces` for the list).")
    return _Parser(text.strip()).parse()


def quote(value: str, reserved=SPECIAL, force: bool = False) -> str:
    """Quote a name, REF, option key or value if it is empty or holds a character the grammar
    reserves (whitespace of any kind included), so that parse_spec reads it back unchanged."""
    if value and not force and not any(c in reserved or c.isspace() for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_spec(spec) -> str:
    """Canonical text of a parsed spec; parse_spec(format_spec(s)) == s."""
    if isinstance(spec, CompositeSpec):
        parts = "+".join(
            format_spec(p.spec) + ("" if p.weight == 1.0 else f"*{_format_weight(p.weight)}") for p in spec.parts
        )
        return "concat:" + parts + _format_options(spec.options)
    if spec.kind == "named":
        base = quote(spec.name)
    elif spec.kind == "st":
        base = "st:" + quote(spec.name)
    elif spec.ref is None:
        base = "open_clip:" + quote(spec.name)
    else:
        # an architecture holding '/' or starting "hf-hub:" unquoted would read back as something else
        arch = quote(spec.name, SPECIAL | {"/"}, force=spec.name.startswith("hf-hub:"))
        base = "open_clip:" + arch + "/" + quote(spec.ref)
    return base + _format_options(spec.options)


def _format_weight(weight: float) -> str:
    """0.7, 2: short, but never rounded (':g' alone made 0.1234567 into 0.123457, another space)."""
    short = f"{weight:g}"
    return short if float(short) == weight else repr(weight)


def _format_options(options) -> str:
    if not options:
        return ""
    return "[" + ",".join(f"{quote(k)}={quote(v)}" for k, v in options) + "]"


class _Parser:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    # -- helpers -------------------------------------------------------------------------
    def error(self, what):
        pointer = f"\n  {self.text}\n  {' ' * self.pos}^"
        return SpecError(f"Cannot read space spec '{self.text}': {what} at position {self.pos}.{pointer}")

    def peek(self):
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def eat(self, char):
        if self.peek() != char:
            raise self.error(f"expected '{char}'")
        self.pos += 1

    def startswith(self, prefix):
        return self.text.startswith(prefix, self.pos)

    def token(self, what, stop=SPECIAL):
        """A quoted string, or a run of characters up to one in `stop`."""
        if self.peek() == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stop and not self.text[self.pos].isspace():
            self.pos += 1
        if self.pos == start:
            raise self.error(f"expected {what}")
        return self.text[start:self.pos]

    def quoted(self):
        self.eat('"')
        out = []
        while True:
            c = self.peek()
            if c == "":
                raise self.error("unclosed quote")
            self.pos += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                if self.peek() not in ('"', "\\"):
                    raise self.error('only \\" and \\\\ may follow a backslash inside quotes')
                c = self.peek()
                self.pos += 1
            out.append(c)

    # -- grammar -------------------------------------------------------------------------
    def parse(self):
        if self.startswith("concat:"):
            self.pos += len("concat:")
            spec = self.composite()
        else:
            spec = self.single()
        if self.pos != len(self.text):
            what = "'+' is only allowed inside concat:" if self.peek() == "+" else "unexpected text"
            raise self.error(what)
        return spec

    def composite(self):
        parts = [self.part()]
        while self.peek() == "+":
            self.pos += 1
            parts.append(self.part())
        options = self.options() if self.peek() == "[" else ()
        if len(parts) < 2:
            raise self.error("a composite needs at least two parts joined by '+'")
        return CompositeSpec(tuple(parts), options)

    def part(self):
        if self.startswith("concat:"):
            raise self.error("composites cannot be nested")
        spec = self.single()
        weight = 1.0
        if self.peek() == "*":
            self.pos += 1
            raw = self.token("a weight after '*'")
            try:
                weight = float(raw)
            except ValueError:
                raise self.error(f"weight '{raw}' is not a number") from None
            if not weight > 0 or weight == float("inf"):
                raise self.error(f"weight {raw} must be a positive number")
        return Part(spec, weight)

    def single(self):
        for prefix in PREFIXES:
            if self.startswith(prefix + ":"):
                self.pos += len(prefix) + 1
                spec = self.st() if prefix == "st" else self.open_clip()
                break
        else:
            spec = self.named()
        if self.peek() == "[":
            spec = SingleSpec(spec.kind, spec.name, spec.ref, self.options())
        return spec

    def named(self):
        start = self.pos
        name = self.token("a space name")
        if ":" in name or "/" in name:
            self.pos = start
            hint = " (a hub model or a local path needs a prefix: st:NAME or open_clip:ARCH/TAG)"
            raise self.error(f"'{name}' is not a space name{hint}")
        return SingleSpec("named", name)

    def st(self):
        return SingleSpec("st", self.token("a model name or path after 'st:'"))

    def open_clip(self):
        if self.startswith("hf-hub:"):
            return SingleSpec("open_clip", self.token("a hub model after 'open_clip:'"))
        arch = self.token("an architecture after 'open_clip:'", stop=SPECIAL | {"/"})
        if self.peek() != "/":
            raise self.error(f"open_clip:{arch} needs a pretrained tag or checkpoint: open_clip:{arch}/TAG")
        self.pos += 1
        return SingleSpec("open_clip", arch, self.token("a pretrained tag or checkpoint path"))

    def options(self):
        self.eat("[")
        options = {}
        while True:
            key = self.token("an option name", stop=SPECIAL)
            self.eat("=")
            value = self.token(f"a value for option '{key}'")
            if key in options:
                raise self.error(f"option '{key}' is given twice")
            options[key] = value
            if self.peek() == ",":
                self.pos += 1
                continue
            self.eat("]")
            return tuple(sorted(options.items()))
