"""`sitegen build` configuration: every option declared once, in `BuildConfig`.

Each field of `BuildConfig` is one option: its Python type, its default and, through `option()`,
its kind (the check, the `sitegen.yml` schema and how the flag's text is read), its help text and
its flag. Everything else is generated from those fields: the click options of
`sitegen build` (`click_options`), the keys `sitegen.yml` accepts and their checks
(`load_build_config`), and the JSON Schema of `sitegen.yml` (`config_schema`). To add an option,
add a field; the site reads the owner's choices (title, theme, ...) from the same object.

Options come from `sitegen.yml` (or the file given with --config) and from command-line flags;
a flag given on the command line wins. Every value is checked here, by the same check whether it
came from the file or a flag, so the rest of sitegen can trust a BuildConfig built by
`load_build_config` (one built directly, as tests do, is not checked). Every problem is a
SitegenError with a one-line message naming the flag or the file and key, and the fix.
"""

import codecs
import json
import re
from dataclasses import MISSING, InitVar, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

import click
import yaml
from click.shell_completion import CompletionItem

from sitegen import placeholders
from sitegen.errors import SitegenError
from sitegen.quantize import SCHEMES
from sitegen.site import available_themes

DEFAULT_FILE = "sitegen.yml"
# --shard-mb counts MiB (2^20 bytes; sitegen/artifact.py), the unit of GitHub's file limit: it refuses
# files over 100 MiB; stay clear of it.
MAX_SHARD_MB = 95
# The colour variables every theme defines (see themes/_layout.css); `colors` may override them.
THEME_COLORS = ("bg", "fg", "muted", "surface", "user_bubble", "border", "accent", "accent_fg", "danger", "focus")
# The (text, background) pairs of those colours that themes/_layout.css draws text with: each
# must reach WCAG AA contrast for text (sitegen/contrast.py) in every theme, after `colors`.
# border and focus draw lines, not text.
THEME_TEXT_PAIRS = (
    ("fg", "bg"),  # body text
    ("fg", "surface"),  # notices, problem boxes, inputs, code blocks, the current conversation
    ("fg", "user_bubble"),  # the visitor's own messages
    ("muted", "bg"),  # footer, hints, message footers and notices, blockquotes
    ("muted", "surface"),  # code block headers, "details" toggles inside problem boxes
    ("accent", "bg"),  # links, secondary and starter buttons
    ("accent", "surface"),  # copy buttons of code blocks, links inside notices
    ("accent_fg", "accent"),  # primary buttons, the pressed theme toggle
    ("danger", "bg"),  # error text (today only the problem boxes' border: kept readable as text)
    ("danger", "surface"),  # the same, inside problem boxes
)
_HEX_COLOR = r"#[0-9a-fA-F]{6}"
# A non-empty string, as JSON Schema says it (the checks also refuse whitespace only).
_TEXT_SCHEMA = {"type": "string", "pattern": r"\S"}


# --- kinds of values: check, schema and command-line reading together ---------------------------


class Kind:
    """What values an option takes, said three ways that must agree.

    `check(label, value)` returns the value as BuildConfig holds it or raises SitegenError naming
    `label` (the flag, or "<file>: <key>"); it sees what YAML produced or, for a flag, what
    `from_flag` made of the flag's text. Flags reach click as plain strings (click's own types
    would refuse a bad value with a usage error of several lines, before the check could name the
    flag on one). `schema()` is the JSON Schema of the value in sitegen.yml (a guide for editors:
    the check is what decides). `multiple`, `metavar` and `complete` make the command-line flag.
    """

    multiple = False  # a repeatable flag; its values arrive as a tuple
    metavar: str | None = None  # None: click's "TEXT"

    def check(self, label: str, value):
        raise NotImplementedError

    def schema(self) -> dict:
        raise NotImplementedError

    def from_flag(self, value):
        """A flag's value as the check takes it: the command line gives text where YAML gives an
        int, say. Never raises: what cannot be converted is left for the check to refuse."""
        return value

    def complete(self, incomplete: str) -> list:
        """Shell completions for the flag's value."""
        return []

    def file_help(self, help: str) -> str:
        """The option's description in sitegen.yml's schema, where the flag's `help` does not fit."""
        return help

    def plain(self, value):
        """`value` as YAML/JSON writes it (for the schema's defaults and --help)."""
        return value


class Text(Kind):
    """A non-empty string."""

    def check(self, label, value):
        if not isinstance(value, str) or not value.strip():
            raise SitegenError(f"{label} must be a non-empty string, got {value!r}.")
        return value

    def schema(self):
        return dict(_TEXT_SCHEMA)


class SiteText(Text):
    """A non-empty string shown on the site, whose placeholders (sitegen/placeholders.py) the
    assembler fills in: a typo in one, or a lone brace, is refused with the list of them."""

    def check(self, label, value):
        text = super().check(label, value)
        try:
            placeholders.check(text)
        except ValueError as problem:
            raise SitegenError(f"{label} {problem}. The placeholders are {placeholders.listed()}; write {{{{ or }}}} "
                               "for a brace shown as it is.") from None
        return text


class LocalPath(Kind):
    """A path on this machine, `~` expanded.

    `file`: what the file is called in the error ("chat template file"); given, the path must name
    a file that exists.
    """

    metavar = "PATH"

    def __init__(self, file: str | None = None):
        self.file = file

    def check(self, label, value):
        path = Path(Text().check(label, str(value) if isinstance(value, Path) else value)).expanduser()
        if self.file and path.is_dir():
            raise SitegenError(f"{label}: {self.file} {path} is a folder; give the path of the file itself.")
        if self.file and not path.is_file():
            raise SitegenError(f"{label}: {self.file} {path} does not exist.")
        return path

    def complete(self, incomplete):
        return [CompletionItem(incomplete, type="file")]

    def schema(self):
        return dict(_TEXT_SCHEMA)

    def plain(self, value):
        return str(value)


class Choice(Kind):
    """One of `values`.

    `noun` names a value in the error ("unknown theme 'x'; available: ..."), for choices that
    are things of their own rather than a setting's values.
    """

    def __init__(self, values, noun: str | None = None):
        self.values, self.noun = tuple(values), noun
        self.metavar = f"[{'|'.join(self.values)}]"  # as click.Choice shows them in --help

    def check(self, label, value):
        if value not in self.values:
            if self.noun:
                raise SitegenError(f"{label}: unknown {self.noun} {value!r}; available: {', '.join(self.values)}.")
            raise SitegenError(f"{label} must be one of {', '.join(self.values)}, got {value!r}.")
        return value

    def schema(self):
        return {"enum": list(self.values)}

    def complete(self, incomplete):
        return [value for value in self.values if value.startswith(incomplete)]


class WholeNumber(Kind):
    """An int from `low` to `high`; `unit` and `why` (the reason for the bounds) go into the error."""

    metavar = "INTEGER"

    def __init__(self, low: int, high: int, unit: str, why: str):
        self.low, self.high, self.unit, self.why = low, high, unit, why

    def from_flag(self, value):
        # "16" -> 16; "x" and "1.5" stay text, for the check to refuse with the flag's name.
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            return int(value)
        return value

    def check(self, label, value):
        # bool is an int in Python; `shard_mb: yes` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise SitegenError(f"{label} must be a whole number of {self.unit} from {self.low} to {self.high} "
                               f"({self.why}), got {value!r}.")
        return value

    def schema(self):
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


class TextList(Kind):
    """A list of non-empty strings (a repeatable flag); held as a tuple."""

    multiple = True

    def check(self, label, value):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise SitegenError(f"{label} must be a list of strings, got {value!r}.")
        return tuple(Text().check(f"{label}[{i}]", v) for i, v in enumerate(value))

    def schema(self):
        return {"type": "array", "items": dict(_TEXT_SCHEMA)}

    def plain(self, value):
        return list(value)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the site: `model` is the model spec (an alias, Hub repo id[@revision], HF folder
    or .gguf file); `quant` its weight scheme (None: BuildConfig.quant); `name` what the pages call
    it (None: its model id, the folder name under models/)."""

    model: str
    quant: str | None = None
    name: str | None = None


class ModelList(Kind):
    """The site's models: a repeatable flag of model specs; in sitegen.yml a list whose items are a
    spec or a mapping {model, quant, name} (one spec or mapping alone is a list of one). Held as a
    tuple of ModelEntry, in the order given: the first is the one a first visit loads."""

    multiple = True
    metavar = "MODEL"
    _KEYS = ("model", "quant", "name")

    def check(self, label, value):
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items:
            raise SitegenError(f"{label} is an empty list; give at least one model.")
        return tuple(self._entry(f"{label}[{i}]" if len(items) > 1 else label, item) for i, item in enumerate(items))

    def _entry(self, label, item):
        if isinstance(item, ModelEntry):
            return item
        if not isinstance(item, dict):
            return ModelEntry(Text().check(label, item))
        unknown = sorted(set(map(str, item)) - set(self._KEYS))
        if unknown:
            raise SitegenError(f"{label}: unknown key(s) {', '.join(unknown)}; a model takes {', '.join(self._KEYS)}.")
        if "model" not in item:
            raise SitegenError(f"{label} has no `model:` key; give the model spec, e.g. {{model: smollm2-135m, "
                               "name: SmolLM2}.")
        quant = item.get("quant")
        name = item.get("name")
        return ModelEntry(Text().check(f"{label}.model", item["model"]),
                          None if quant is None else Choice(SCHEMES).check(f"{label}.quant", quant),
                          None if name is None else Text().check(f"{label}.name", name).strip())

    def schema(self):
        entry = {"anyOf": [dict(_TEXT_SCHEMA), {
            "type": "object", "required": ["model"], "additionalProperties": False,
            "properties": {"model": dict(_TEXT_SCHEMA), "quant": {"enum": list(SCHEMES)}, "name": dict(_TEXT_SCHEMA)}}]}
        return {"anyOf": [{"type": "array", "items": entry, "minItems": 1}, entry]}

    def file_help(self, help):
        return ("The site's models: a list of model specs (an alias from `sitegen models`, a Hub repo id[@revision], "
                "an HF folder or a .gguf file), each optionally a mapping {model: spec, quant: scheme, name: display "
                "name}. The first is the one a first visit loads. `model:` (one model) is the same option.")

    def plain(self, value):
        return [entry.model if entry == ModelEntry(entry.model) else
                {key: getattr(entry, key) for key in self._KEYS if getattr(entry, key) is not None} for entry in value]


class FolderUrl(Kind):
    """An absolute http(s) URL of a folder, held with a trailing '/'.

    https is required because the site is served over https (GitHub Pages, any CDN) and browsers
    block plain-http fetches from such pages; http is accepted for local hosts (testing).
    """

    _LOCAL = ("localhost", "127.0.0.1", "::1")

    _EXAMPLE = "Example: https://huggingface.co/<user>/<repo>/resolve/main/"

    def check(self, label, value):
        url = Text().check(label, value).strip()
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError as err:  # e.g. "https://[::1/": an unclosed IPv6 address
            raise SitegenError(f"{label} is not a valid URL ({err}), got {value!r}. {self._EXAMPLE}") from None
        if parts.scheme not in ("http", "https") or (parts.scheme == "http" and host and host not in self._LOCAL):
            raise SitegenError(f"{label} must be an https:// URL (http only for localhost), got {value!r}. "
                               f"{self._EXAMPLE}")
        if not host:
            raise SitegenError(f"{label} has no host name (after {parts.scheme}://), got {value!r}. {self._EXAMPLE}")
        if parts.query or parts.fragment:
            raise SitegenError(f"{label} must be a folder URL without ?query or #fragment, got {value!r}.")
        return url if url.endswith("/") else url + "/"

    def schema(self):
        local = "|".join(re.escape(host if ":" not in host else f"[{host}]") for host in self._LOCAL)
        return {"type": "string", "format": "uri",
                "pattern": rf"^\s*(https://[^/?#\s]+|http://({local})(:\d+)?)(/[^?#]*)?\s*$"}


class HostName(Kind):
    """A bare DNS host name such as www.example.org, held in lower case (DNS ignores case).

    Two labels at least (GitHub Pages serves custom domains, not single-label hosts); each label
    1-63 letters, digits or hyphens, not starting or ending with a hyphen; 253 characters in all
    (RFC 1035, RFC 1123). No scheme, path, port or trailing dot: GitHub Pages' CNAME file holds
    the host alone.
    """

    metavar = "DOMAIN"
    _LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
    _PATTERN = rf"{_LABEL}(\.{_LABEL})+"

    def check(self, label, value):
        host = Text().check(label, value).strip()
        if not host.isascii():
            try:
                ascii_host = host.encode("idna").decode("ascii")
            except UnicodeError:
                ascii_host = None
            if ascii_host:
                raise SitegenError(f"{label} {value!r} must be written in its ASCII (punycode) form: {ascii_host}.")
        if re.fullmatch(r"[0-9.]+", host):
            raise SitegenError(f"{label} must be a domain name, not an IP address ({value!r}): GitHub Pages serves "
                               "custom domains only.")
        if len(host) > 253 or not re.fullmatch(self._PATTERN, host):
            raise SitegenError(f"{label} must be a bare domain name such as example.org or www.example.org "
                               f"(letters, digits, hyphens and dots; no https://, path or port), got {value!r}.")
        return host.lower()

    def schema(self):
        return {"type": "string", "maxLength": 253, "pattern": rf"^\s*{self._PATTERN}\s*$"}


class Colors(Kind):
    """Theme colour overrides: {variable: "#rrggbb"} in sitegen.yml, NAME=#rrggbb per flag.

    Held as ((variable, "#rrggbb"), ...) in the order given, variables spelt with '_' (YAML and
    flags may use '-', as CSS does).
    """

    multiple = True
    metavar = "NAME=#RRGGBB"

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def check(self, label, value):
        if isinstance(value, (list, tuple)):
            pairs = []
            for item in value:
                key, sep, colour = str(item).partition("=")
                if not sep:
                    raise SitegenError(f"{label} takes NAME=#rrggbb, got {item!r}.")
                pairs.append((key, colour))
        elif isinstance(value, dict):
            pairs = list(value.items())
        else:
            raise SitegenError(f"{label} must be a mapping of colour name to #rrggbb, got {value!r}.")
        checked = {}
        for key, colour in pairs:
            key = str(key).strip().replace("-", "_")
            if key not in self.names:
                raise SitegenError(f"{label}: unknown colour {key!r}; the themes' colours are {', '.join(self.names)}.")
            if not isinstance(colour, str) or not re.fullmatch(_HEX_COLOR, colour.strip()):
                raise SitegenError(f"{label}: {key} must be a #rrggbb colour (quote it in YAML), got {colour!r}.")
            checked[key] = colour.strip().lower()
        return tuple(checked.items())

    def schema(self):
        return {"type": "object", "propertyNames": {"enum": _spellings(self.names)},
                "additionalProperties": {"type": "string", "pattern": rf"^\s*{_HEX_COLOR}\s*$"}}

    def file_help(self, help):
        # The flag's help shows NAME=#rrggbb; the file holds a mapping.
        return "Theme colour overrides: a mapping of colour name to a quoted \"#rrggbb\", e.g. {accent: \"#aa3300\"}."

    def plain(self, value):
        return dict(value)


def _spellings(names) -> list[str]:
    """Each name as written with '_' and, where it differs, with '-' (both are accepted)."""
    return sorted({spelling for name in names for spelling in (name, name.replace("_", "-"))})


# --- the options ------------------------------------------------------------------------------


def option(kind: Kind, default=MISSING, *, help: str, short: str | None = None, flag: str | None = None,
           required: bool = False):
    """A BuildConfig field that is a `sitegen build` option (no default, or `required`: the option is required).

    `flag` defaults to --<name with dashes>; `short` is a one-letter flag such as "-m". sitegen.yml
    accepts the key as the field is named and as the flag is spelt (without the dashes).
    """
    return field(default=default, metadata={"kind": kind, "help": help, "short": short, "flag": flag,
                                            "required": required or default is MISSING})


@dataclass(frozen=True)
class BuildConfig:
    """The options of one build; each field is declared once, here, with `option()`.

    `BuildConfig(model=spec)` is short for `models=(ModelEntry(spec),)`: a site of one model.
    """

    models: tuple[ModelEntry, ...] = option(
        ModelList(), (), short="-m", flag="--model", required=True,
        help="Alias (see `sitegen models`), Hub repo id[@revision], HF folder or .gguf file; repeat it for a "
        "site of several models (the first is the one a first visit loads).")
    out: Path = option(LocalPath(), Path("site"), short="-o", help="Output folder for the site.")
    quant: str = option(Choice(SCHEMES), "q4g32", short="-q", help="Weight scheme.")
    shard_mb: int = option(WholeNumber(1, MAX_SHARD_MB, unit="MiB", why="GitHub refuses files over 100 MiB"), 32,
                           help=f"Largest shard file, in MiB (1 MiB = 1,048,576 bytes), from 1 to {MAX_SHARD_MB}.")
    theme: str = option(Choice(available_themes(), noun="theme"), "default", help="Theme name from themes/.")
    # sitegen/site.py fills in {model_id} (sitegen/placeholders.py): the model is known only once resolved.
    title: str = option(SiteText(), "Chat with {model_id}",
                        help="Site title; {model_id} stands for the model's id, {{ and }} for a brace.")
    description: str = option(
        SiteText(), "A private chat with {model_id}. The model runs in your browser, on your own device: "
        "nothing you type leaves it.",
        help="Site description; {model_id} stands for the model's id, {{ and }} for a brace.")
    starter_prompts: tuple[str, ...] = option(
        TextList(), ("Explain what a GPU does, in two sentences.", "Write a haiku about the sea.",
                     "Give me three ideas for a rainy weekend."),
        flag="--starter-prompt", help="Suggested first message (repeatable); in sitegen.yml a list, [] for none.")
    chat_template: Path | None = option(LocalPath(file="chat template file"), None,
                                        help="Jinja chat template file to use instead of the model's.")
    weights_url: str | None = option(
        FolderUrl(), None, help="Folder URL the shards will be served from (e.g. a Hugging Face resolve/main/ "
        "URL); the shards are then written beside the site, to OUT-weights/, not into it.")
    colors: tuple[tuple[str, str], ...] = option(
        Colors(THEME_COLORS), (), help="Override a theme colour, e.g. accent=#aa3300 (repeatable).")
    cname: str | None = option(
        HostName(), None, help="Custom domain of the GitHub Pages site, e.g. example.org: written to the site's "
        "CNAME file (replacing one you put there). Without it, a rebuild keeps the site's CNAME.")
    model: InitVar[str | None] = None

    def __post_init__(self, model):
        if model is not None:
            if self.models:
                raise TypeError("BuildConfig takes model or models, not both")
            object.__setattr__(self, "models", (ModelEntry(model),))


# `model` is an argument of the constructor only: reading config.model would give the class's None.
del BuildConfig.model


@dataclass(frozen=True)
class DeclaredOption:
    """One BuildConfig field as an option: see `option()`; `required`: the build needs a value."""

    name: str
    kind: Kind
    default: object
    help: str
    flag: str
    short: str | None
    required: bool

    @property
    def shown_default(self) -> str | None:
        """The default as --help and the docs show it; None when there is nothing to show."""
        if self.required or self.default in (None, ()):
            return None
        plain = self.kind.plain(self.default)
        # Lists as JSON, which is also YAML: the form a sitegen.yml would hold them in.
        return plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)


OPTIONS: dict[str, DeclaredOption] = {
    f.name: DeclaredOption(f.name, f.metadata["kind"], f.default, f.metadata["help"],
                   f.metadata["flag"] or "--" + f.name.replace("_", "-"), f.metadata["short"], f.metadata["required"])
    for f in fields(BuildConfig)
}


def click_options(command):
    """Decorate a click command with one option per BuildConfig field, in declaration order.

    Flags have no click default (None, or () when repeatable): "not given" must stay visible so
    that `load_build_config` keeps the file's value; the declared default is shown in the help.
    Values arrive as text, checked by `load_build_config` (see `Kind`).
    """
    for opt in reversed(OPTIONS.values()):
        shown = opt.shown_default
        command = click.option(*filter(None, (opt.short, opt.flag)), opt.name, type=click.STRING,
                               multiple=opt.kind.multiple, metavar=opt.kind.metavar,
                               shell_complete=lambda ctx, param, incomplete, kind=opt.kind: kind.complete(incomplete),
                               help=opt.help + (f" [default: {shown}]" if shown is not None else ""))(command)
    return command


def _or_null(schema: dict) -> dict:
    """`schema` that also accepts null (an empty key, which the loader reads as the default)."""
    if "type" in schema:  # the other keywords of these schemas apply only to their own type
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*types, "null"]}
    if set(schema) == {"enum"}:
        return {"enum": [*schema["enum"], None]}
    return {"anyOf": [schema, {"type": "null"}]}


def _file_spellings(opt: DeclaredOption) -> list[str]:
    """The other keys sitegen.yml accepts for `opt`: its name with '-', its flag's name (--model for
    models) with '-' and with '_'."""
    flag = opt.flag.removeprefix("--")
    return sorted({opt.name.replace("_", "-"), flag, flag.replace("-", "_")} - {opt.name})


# sitegen.yml key (any spelling) -> option name
_FILE_KEYS = {spelling: opt.name for opt in OPTIONS.values() for spelling in (opt.name, *_file_spellings(opt))}


def config_schema() -> dict:
    """The JSON Schema (2020-12) of sitegen.yml, as a dict ready for json.dumps."""
    properties = {}
    for opt in OPTIONS.values():
        schema = opt.kind.schema() if opt.required else _or_null(opt.kind.schema())
        properties[opt.name] = {**schema, "description": opt.kind.file_help(opt.help)}
        if not opt.required and opt.default is not None:
            properties[opt.name]["default"] = opt.kind.plain(opt.default)
    for opt in OPTIONS.values():
        for spelling in _file_spellings(opt):  # the key as the flag is spelt
            properties[spelling] = {"$ref": f"#/properties/{opt.name}"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": DEFAULT_FILE,
            "description": "Options of `sitegen build`; a flag given on the command line wins. "
                           "A key left empty means its default.",
            "type": "object", "properties": properties, "additionalProperties": False}


# --- reading -----------------------------------------------------------------------------------

# Byte order marks we read by: Windows PowerShell's `>` writes UTF-16 LE with one, some editors
# UTF-8 with one. Without one the file must be UTF-8.
_BOMS = ((codecs.BOM_UTF8, "UTF-8"), (codecs.BOM_UTF16_LE, "UTF-16-LE"), (codecs.BOM_UTF16_BE, "UTF-16-BE"))


def _decode(path: Path, data: bytes) -> str:
    """The text of a user's file; SitegenError if it is not UTF-8 or BOM-marked UTF-16."""
    bom, encoding = next(((bom, name) for bom, name in _BOMS if data.startswith(bom)), (b"", "UTF-8"))
    body = data[len(bom):]
    if not bom and b"\x00" in body:
        raise SitegenError(f"{path} contains NUL bytes, as UTF-16 text without a byte order mark does; "
                           "save it as UTF-8.")
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as err:
        line = body[:err.start].decode(encoding).count("\n") + 1
        # Without a BOM the likely cause is an editor's legacy default, e.g. Windows' cp1252.
        guess = " (saved in a legacy encoding such as cp1252?)" if not bom else ""
        raise SitegenError(f"{path} is not valid {encoding} text: byte 0x{body[err.start]:02x} on line {line} "
                           f"cannot be decoded{guess}; save it as UTF-8.") from None


def _yaml_problem(err: yaml.YAMLError, text: str) -> str:
    """PyYAML's complaint on one line (its own message spans lines and quotes the source)."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        return f"{', '.join(filter(None, (err.context, err.problem)))} (line {mark.line + 1}, column {mark.column + 1})"
    # The other error of loading, yaml.reader.ReaderError: a control character, at a text offset.
    before = text[:err.position]
    line, column = before.count("\n") + 1, err.position - before.rfind("\n")
    return f"character #x{err.character:04x} is not allowed (line {line}, column {column})"


def read_user_text(path: Path) -> str:
    """The text of a file the user wrote (sitegen.yml, a chat template), as editors save it.

    UTF-8 with or without a byte order mark, or UTF-16 with one (Windows PowerShell's `>`); line
    ends become "\n", as `Path.read_text` makes them. Anything else, a folder or an unreadable
    file is a SitegenError with a one-line message naming the file.
    """
    if path.is_dir():
        raise SitegenError(f"{path} is a folder; give the path of the file itself.")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SitegenError(f"Cannot read {path}: {err.strerror}.") from None
    return _decode(path, data).replace("\r\n", "\n").replace("\r", "\n")


def _read_file(path: Path) -> dict:
    text = read_user_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SitegenError(f"{path} is not valid YAML: {_yaml_problem(err, text)}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SitegenError(f"{path} must be a mapping of option: value, got a {type(data).__name__}.")
    options, spelt = {}, {}
    for key, value in data.items():
        name = _FILE_KEYS.get(str(key), str(key))
        if name in options:  # `shard-mb:` and `shard_mb:` are one option: which one was meant?
            raise SitegenError(f"{path}: {spelt[name]} and {key} are the same option, set twice; keep one of them.")
        options[name], spelt[name] = value, key
    return options


def load_build_config(config_file: Path | None, flags: dict) -> BuildConfig:
    """The checked BuildConfig of a build.

    `config_file`: the file given with --config, else ./sitegen.yml is read if present. `flags`:
    {option name: value from the command line}, None or () for not given; any subset of OPTIONS.
    A flag wins over the file, the file over the declared default. Raises SitegenError with a
    one-line message for a missing or unreadable file, an unknown key, a bad value (naming the
    flag or the file and key) or no model.
    """
    if config_file is not None and config_file.is_dir():
        raise SitegenError(f"Config file {config_file} is a folder; give the path of the file itself, "
                           f"e.g. {config_file / DEFAULT_FILE}.")
    if config_file is not None and config_file.exists() and not config_file.is_file():
        raise SitegenError(f"Config file {config_file} is not a regular file (a device, pipe or socket); give the "
                           f"path of a YAML file, e.g. {DEFAULT_FILE}.")
    if config_file is not None and not config_file.is_file():
        raise SitegenError(f"Config file {config_file} does not exist.")
    config_file = config_file or (Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None)
    in_file = _read_file(config_file) if config_file else {}
    unknown = sorted(set(in_file) - set(OPTIONS))
    if unknown:
        raise SitegenError(f"{config_file}: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}.")
    # A key left empty in the file (`title:`) means the default, as if it were absent.
    values = {name: value for name, value in in_file.items() if value is not None}
    labels = {name: f"{config_file}: {name}" for name in values}
    for name, value in flags.items():
        if value is not None and value != ():
            values[name], labels[name] = OPTIONS[name].kind.from_flag(value), OPTIONS[name].flag
    if "models" not in values:
        raise SitegenError("No model given: pass --model (an alias from `sitegen models`, a Hub repo id, "
                           f"a folder or a .gguf file) or set `models:` (or `model:`) in {DEFAULT_FILE}.")
    return BuildConfig(**{name: OPTIONS[name].kind.check(labels[name], value) for name, value in values.items()})
