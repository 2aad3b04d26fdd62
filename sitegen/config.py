"""`sitegen build` configuration: every option declared once, in `BuildConfig`.

Each field of `BuildConfig` is one option: its Python type, its default and, through `option()`,
its kind (the check, the `sitegen.yml` schema and the command-line type of its value), its help
text and its flag. Everything else is generated from those fields: the click options of
`sitegen build` (`click_options`), the keys `sitegen.yml` accepts and their checks
(`load_build_config`), and the JSON Schema of `sitegen.yml` (`config_schema`). To add an option,
add a field; the site reads the owner's choices (title, theme, ...) from the same object.

Options come from `sitegen.yml` (or the file given with --config) and from command-line flags;
a flag given on the command line wins. Every value is checked here, so the rest of sitegen can
trust a BuildConfig built by `load_build_config` (one built directly, as tests do, is not checked).
"""

import codecs
import json
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

import click
import yaml

from sitegen.errors import SitegenError
from sitegen.quantize import SCHEMES
from sitegen.site import available_themes

DEFAULT_FILE = "sitegen.yml"
MAX_SHARD_MB = 95  # GitHub refuses files over 100 MB; stay clear of it
# The colour variables every theme defines (see themes/_layout.css); `colors` may override them.
THEME_COLORS = ("bg", "fg", "muted", "surface", "user_bubble", "border", "accent", "accent_fg", "danger", "focus")
_HEX_COLOR = r"#[0-9a-fA-F]{6}"
# A non-empty string, as JSON Schema says it (the checks also refuse whitespace only).
_TEXT_SCHEMA = {"type": "string", "pattern": r"\S"}


# --- kinds of values: check, schema and command-line type together ------------------------------


class Kind:
    """What values an option takes, said three ways that must agree.

    `check(label, value)` returns the value as BuildConfig holds it or raises SitegenError naming
    `label` (the flag, or "<file>: <key>"); it sees what YAML or click produced. `schema()` is the
    JSON Schema of the value in sitegen.yml (a guide for editors: the check is what decides).
    `click_type`, `multiple` and `metavar` make the command-line flag.
    """

    click_type: click.ParamType = click.STRING
    multiple = False  # a repeatable flag; its values arrive as a tuple
    metavar: str | None = None

    def check(self, label: str, value):
        raise NotImplementedError

    def schema(self) -> dict:
        raise NotImplementedError

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


class LocalPath(Kind):
    """A path on this machine, `~` expanded.

    `file`: what the file is called in the error ("chat template file"); given, the path must name
    a file that exists.
    """

    click_type = click.Path(path_type=Path)

    def __init__(self, file: str | None = None):
        self.file = file

    def check(self, label, value):
        path = Path(Text().check(label, str(value) if isinstance(value, Path) else value)).expanduser()
        if self.file and not path.is_file():
            raise SitegenError(f"{label}: {self.file} {path} does not exist.")
        return path

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
        self.click_type = click.Choice(self.values)

    def check(self, label, value):
        if value not in self.values:
            if self.noun:
                raise SitegenError(f"{label}: unknown {self.noun} {value!r}; available: {', '.join(self.values)}.")
            raise SitegenError(f"{label} must be one of {', '.join(self.values)}, got {value!r}.")
        return value

    def schema(self):
        return {"enum": list(self.values)}


class WholeNumber(Kind):
    """An int from `low` to `high`; `unit` and `why` (the reason for the bounds) go into the error."""

    click_type = click.INT

    def __init__(self, low: int, high: int, unit: str, why: str):
        self.low, self.high, self.unit, self.why = low, high, unit, why

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


class FolderUrl(Kind):
    """An absolute http(s) URL of a folder, held with a trailing '/'.

    https is required because the site is served over https (GitHub Pages, any CDN) and browsers
    block plain-http fetches from such pages; http is accepted for local hosts (testing).
    """

    _LOCAL = ("localhost", "127.0.0.1", "::1")

    def check(self, label, value):
        url = Text().check(label, value).strip()
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in self._LOCAL):
            raise SitegenError(f"{label} must be an https:// URL (http only for localhost), got {value!r}. Example: "
                               "https://huggingface.co/<user>/<repo>/resolve/main/")
        if not parts.hostname or parts.query or parts.fragment:
            raise SitegenError(f"{label} must be a folder URL without ?query or #fragment, got {value!r}.")
        return url if url.endswith("/") else url + "/"

    def schema(self):
        local = "|".join(re.escape(host if ":" not in host else f"[{host}]") for host in self._LOCAL)
        return {"type": "string", "format": "uri",
                "pattern": rf"^\s*(https://[^/?#\s]+|http://({local})(:\d+)?)(/[^?#]*)?\s*$"}


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

    def plain(self, value):
        return dict(value)


def _spellings(names) -> list[str]:
    """Each name as written with '_' and, where it differs, with '-' (both are accepted)."""
    return sorted({spelling for name in names for spelling in (name, name.replace("_", "-"))})


# --- the options ------------------------------------------------------------------------------


def option(kind: Kind, default=MISSING, *, help: str, short: str | None = None, flag: str | None = None):
    """A BuildConfig field that is a `sitegen build` option (no default: the option is required).

    `flag` defaults to --<name with dashes>; `short` is a one-letter flag such as "-m".
    """
    return field(default=default, metadata={"kind": kind, "help": help, "short": short, "flag": flag})


@dataclass(frozen=True)
class BuildConfig:
    """The options of one build; each field is declared once, here, with `option()`."""

    model: str = option(Text(), short="-m",
                        help="Alias (see `sitegen models`), Hub repo id[@revision], HF folder or .gguf file.")
    out: Path = option(LocalPath(), Path("site"), short="-o", help="Output folder for the site.")
    quant: str = option(Choice(SCHEMES), "q4g32", short="-q", help="Weight scheme.")
    shard_mb: int = option(WholeNumber(1, MAX_SHARD_MB, unit="MiB", why="GitHub Pages refuses files over 100 MB"),
                           32, help="Largest shard file, MiB.")
    theme: str = option(Choice(available_themes(), noun="theme"), "default", help="Theme name from themes/.")
    # sitegen/site.py puts the model's id for {model_id}: the model is known only once resolved.
    title: str = option(Text(), "Chat with {model_id}", help="Site title; {model_id} stands for the model's id.")
    description: str = option(
        Text(), "A private chat with {model_id}. The model runs in your browser, on your own GPU: "
        "nothing you type leaves your device.", help="Site description; {model_id} stands for the model's id.")
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


@dataclass(frozen=True)
class DeclaredOption:
    """One BuildConfig field as an option: see `option()`; `default` is MISSING when required."""

    name: str
    kind: Kind
    default: object
    help: str
    flag: str
    short: str | None

    @property
    def shown_default(self) -> str | None:
        """The default as --help and the docs show it; None when there is nothing to show."""
        if self.default is MISSING or self.default in (None, ()):
            return None
        plain = self.kind.plain(self.default)
        # Lists as JSON, which is also YAML: the form a sitegen.yml would hold them in.
        return plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)


OPTIONS: dict[str, DeclaredOption] = {
    f.name: DeclaredOption(f.name, f.metadata["kind"], f.default, f.metadata["help"],
                   f.metadata["flag"] or "--" + f.name.replace("_", "-"), f.metadata["short"])
    for f in fields(BuildConfig)
}


def click_options(command):
    """Decorate a click command with one option per BuildConfig field, in declaration order.

    Flags have no click default (None, or () when repeatable): "not given" must stay visible so
    that `load_build_config` keeps the file's value; the declared default is shown in the help.
    """
    for opt in reversed(OPTIONS.values()):
        shown = opt.shown_default
        command = click.option(*filter(None, (opt.short, opt.flag)), opt.name, type=opt.kind.click_type,
                               multiple=opt.kind.multiple, metavar=opt.kind.metavar,
                               help=opt.help + (f" [default: {shown}]" if shown is not None else ""))(command)
    return command


def config_schema() -> dict:
    """The JSON Schema (2020-12) of sitegen.yml, as a dict ready for json.dumps."""
    properties = {}
    for opt in OPTIONS.values():
        properties[opt.name] = {**opt.kind.schema(), "description": opt.help}
        if opt.default not in (MISSING, None):
            properties[opt.name]["default"] = opt.kind.plain(opt.default)
    for opt in OPTIONS.values():
        if "_" in opt.name:  # sitegen.yml may also spell the key with '-', as the flag is
            properties[opt.name.replace("_", "-")] = {"$ref": f"#/properties/{opt.name}"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": DEFAULT_FILE,
            "description": "Options of `sitegen build`; a flag given on the command line wins.",
            "type": "object", "properties": properties, "additionalProperties": False}


# --- reading -----------------------------------------------------------------------------------

# Byte order marks we read by: Windows PowerShell's `>` writes UTF-16 LE with one, some editors
# UTF-8 with one. Without one the file must be UTF-8.
_BOMS = ((codecs.BOM_UTF8, "UTF-8"), (codecs.BOM_UTF16_LE, "UTF-16-LE"), (codecs.BOM_UTF16_BE, "UTF-16-BE"))


def _decode(path: Path, data: bytes) -> str:
    """The text of a config file; SitegenError if it is not UTF-8 or BOM-marked UTF-16."""
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


def _read_file(path: Path) -> dict:
    try:
        text = _decode(path, path.read_bytes())
    except OSError as err:
        raise SitegenError(f"Cannot read {path}: {err.strerror}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SitegenError(f"{path} is not valid YAML: {_yaml_problem(err, text)}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SitegenError(f"{path} must be a mapping of option: value, got a {type(data).__name__}.")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def load_build_config(config_file: Path | None, flags: dict) -> BuildConfig:
    """The checked BuildConfig of a build.

    `config_file`: the file given with --config, else ./sitegen.yml is read if present. `flags`:
    {option name: value from the command line}, None or () for not given; any subset of OPTIONS.
    A flag wins over the file, the file over the declared default. Raises SitegenError with a
    one-line message for a missing or unreadable file, an unknown key, a bad value (naming the
    flag or the file and key) or no model.
    """
    if config_file is not None and not config_file.is_file():
        raise SitegenError(f"Config file {config_file} does not exist.")
    config_file = config_file or (Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None)
    values = _read_file(config_file) if config_file else {}
    unknown = sorted(set(values) - set(OPTIONS))
    if unknown:
        raise SitegenError(f"{config_file}: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}.")
    labels = {name: f"{config_file}: {name}" for name in values}
    for name, value in flags.items():
        if value is not None and value != ():
            values[name], labels[name] = value, OPTIONS[name].flag
    if "model" not in values:
        raise SitegenError("No model given: pass --model (an alias from `sitegen models`, a Hub repo id, "
                           f"a folder or a .gguf file) or set `model:` in {DEFAULT_FILE}.")
    # A key left empty in the file (`title:`) means the default, as if it were absent.
    return BuildConfig(**{name: OPTIONS[name].kind.check(labels[name], value)
                          for name, value in values.items() if value is not None})
