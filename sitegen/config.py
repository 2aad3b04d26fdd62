"""`sitegen build` configuration: the options, their defaults and checks, in one place.

Options come from `sitegen.yml` (or the file given with --config) and from command-line flags;
a flag given on the command line wins. Every value is checked here, so the rest of sitegen can
trust a BuildConfig.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from sitegen.errors import SitegenError
from sitegen.quantize import SCHEMES

DEFAULT_FILE = "sitegen.yml"
MAX_SHARD_MB = 95  # GitHub refuses files over 100 MB; stay clear of it


@dataclass(frozen=True)
class BuildConfig:
    model: str
    out: Path = Path("site")
    quant: str = "q4g32"
    shard_mb: int = 32
    theme: str = "default"
    title: str | None = None
    description: str | None = None
    starter_prompts: tuple[str, ...] = ()
    chat_template: Path | None = None
    weights_url: str | None = None
    colors: tuple[tuple[str, str], ...] = ()


def _text(name, value):
    if not isinstance(value, str) or not value.strip():
        raise SitegenError(f"{name} must be a non-empty string, got {value!r}.")
    return value


def _path(name, value):
    return Path(_text(name, str(value) if isinstance(value, Path) else value)).expanduser()


def _quant(name, value):
    if value not in SCHEMES:
        raise SitegenError(f"{name} must be one of {', '.join(SCHEMES)}, got {value!r}.")
    return value


def _shard_mb(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARD_MB:
        raise SitegenError(f"{name} must be a whole number of MiB from 1 to {MAX_SHARD_MB} "
                           f"(GitHub Pages refuses files over 100 MB), got {value!r}.")
    return value


def _theme(name, value):
    from sitegen.site import available_themes
    if value not in available_themes():
        raise SitegenError(f"{name}: unknown theme {value!r}; available: {', '.join(available_themes())}.")
    return value


def _prompts(name, value):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SitegenError(f"{name} must be a list of strings, got {value!r}.")
    return tuple(_text(f"{name}[{i}]", v) for i, v in enumerate(value))


def _template_file(name, value):
    path = _path(name, value)
    if not path.is_file():
        raise SitegenError(f"{name}: chat template file {path} does not exist.")
    return path


def _weights_url(name, value):
    """An absolute http(s) URL of the folder the shards will be uploaded to, ending in '/'.

    https is required because the site is served over https (GitHub Pages, any CDN) and browsers
    block plain-http fetches from such pages; http is accepted for local hosts (testing).
    """
    url = _text(name, value).strip()
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise SitegenError(f"{name} must be an https:// URL (http only for localhost), got {value!r}. Example: "
                           "https://huggingface.co/<user>/<repo>/resolve/main/")
    if not parts.hostname or parts.query or parts.fragment:
        raise SitegenError(f"{name} must be a folder URL without ?query or #fragment, got {value!r}.")
    return url if url.endswith("/") else url + "/"


# The colour variables every theme defines (see themes/_layout.css); `colors` may override them.
THEME_COLORS = ("bg", "fg", "muted", "surface", "user_bubble", "border", "accent", "accent_fg", "danger", "focus")
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _colors(name, value):
    """{variable: "#rrggbb"} (sitegen.yml) or ("variable=#rrggbb", ...) (--color flags)."""
    if isinstance(value, (list, tuple)):
        pairs = []
        for item in value:
            key, sep, colour = str(item).partition("=")
            if not sep:
                raise SitegenError(f"{name} takes NAME=#rrggbb, got {item!r}.")
            pairs.append((key, colour))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise SitegenError(f"{name} must be a mapping of colour name to #rrggbb, got {value!r}.")
    checked = {}
    for key, colour in pairs:
        key = str(key).strip().replace("-", "_")
        if key not in THEME_COLORS:
            raise SitegenError(f"{name}: unknown colour {key!r}; the themes' colours are {', '.join(THEME_COLORS)}.")
        if not isinstance(colour, str) or not _HEX_COLOR.fullmatch(colour.strip()):
            raise SitegenError(f"{name}: {key} must be a #rrggbb colour (quote it in YAML), got {colour!r}.")
        checked[key] = colour.strip().lower()
    return tuple(checked.items())


CHECKS = {"model": _text, "out": _path, "quant": _quant, "shard_mb": _shard_mb, "theme": _theme,
          "title": _text, "description": _text, "starter_prompts": _prompts, "chat_template": _template_file,
          "weights_url": _weights_url, "colors": _colors}


def _read_file(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SitegenError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SitegenError(f"{path} must be a mapping of option: value, got a {type(data).__name__}.")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def load_build_config(config_file: Path | None, flags: dict) -> BuildConfig:
    """Merge the config file (explicit, else ./sitegen.yml if present) with flags (None = not given)."""
    if config_file is not None and not config_file.is_file():
        raise SitegenError(f"Config file {config_file} does not exist.")
    config_file = config_file or (Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None)
    values = _read_file(config_file) if config_file else {}
    unknown = sorted(set(values) - set(CHECKS))
    if unknown:
        raise SitegenError(f"{config_file}: unknown option(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}.")
    labels = {name: f"{config_file}: {name}" for name in values}
    for name, value in flags.items():
        if value is not None and value != ():
            values[name], labels[name] = value, "--" + name.replace("_", "-")
    if "model" not in values:
        raise SitegenError("No model given: pass --model (an alias from `sitegen models`, a Hub repo id, "
                           f"a folder or a .gguf file) or set `model:` in {DEFAULT_FILE}.")
    return BuildConfig(**{name: CHECKS[name](labels[name], value)
                          for name, value in values.items() if value is not None})
