"""Site assembler: turns a converted model into the static chat site around it.

`assemble_site` runs after the build wrote the model to `<site>/models/<model id>/` inside its
temporary folder; it adds everything else (pages, theme, icons, web app manifest, service worker,
the runtime modules the pages and workers load, and kernels). The caller owns the folder and the
atomic rename.

Rules the output keeps:
- every URL is relative, so the site works at a domain root and under a GitHub Pages sub-path;
- nothing is loaded from another origin (no CDN, no web fonts); a CSP meta tag enforces it;
- the same inputs give the same bytes (no timestamps, sorted walks, deterministic PNG encoding).

Manifest keys read (all required; the manifest is our own build's, see sitegen/manifest.py):
- `architecture`: the whole object (read as sitegen/arch.py's Architecture); the page shows
  `.family`, `.hidden_size`, `.num_layers`, `.context_length`
- `quantization.scheme`
- `tensors.<name>.shape`: the logical (unquantised) shape; the parameter count sums their products
- `total_bytes`: the weights' download size (all shards)
- `chat_template`: null makes the home page a text-completion page (a base model), else a chat
- `chat_sampling`: the defaults of the settings' empty Temperature and Top p fields
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import math
import posixpath
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import jinja2
import markdown
import numpy as np
import yaml
from markdown.extensions import Extension
from markdown.extensions.tables import TableExtension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from . import placeholders
from .arch import Architecture
from .assets import asset_dir
from .errors import SitegenError
from .manifest import matrix_schemes
from .site_libraries import DESCRIPTION, VENDOR
from .units import format_bytes

if TYPE_CHECKING:  # sitegen.config imports this module (for the theme names)
    from .config import BuildConfig

ICON_SIZES = (192, 512)
# The home page by mode: a chat for a model with a chat template, text completion for a base model
# (manifest chat_template null); each is its template and its entry module in runtime/.
PAGES = {"chat": ("index.html", "runtime/app.js"), "completion": ("completion.html", "runtime/completion_app.js")}
# Max tokens of the completion page's empty field: the completions API's own default is OpenAI's 16,
# a few words, where a visitor trying a base model expects a paragraph.
COMPLETION_MAX_TOKENS = 64
# A base model's site is no chat: its title and description where the owner kept BuildConfig's
# chat wording (the defaults); "{model_id}" as there.
COMPLETION_TEXTS = {
    "title": "{model_id}: text completion",
    "description": "Text completion with {model_id}, a base model. It runs in your browser, on your own device: "
                   "nothing you type leaves it.",
}
# The script that applies the visitor's saved light/dark choice on every page (a classic script,
# so it runs before the first paint).
THEME_SCRIPT = "runtime/ui/theme.js"
# The module the site's service worker (templates/sw.js) starts; it runs the engine for the pages.
SERVICE_WORKER_MODULE = "runtime/service_worker.js"
# A reference from one of our modules to another file: a static import or re-export, a literal
# dynamic import, or `new URL('...', import.meta.url)` (a worker's script, a data file). Only
# relative specifiers: the site has no bare ones ('webgpu' is Node's, imported only there).
_MODULE_REFERENCE = re.compile(
    r"""^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"](\.{1,2}/[^'"]+)['"]"""
    r"""|^\s*import\s*['"](\.{1,2}/[^'"]+)['"]"""
    r"""|\bimport\(\s*['"](\.{1,2}/[^'"]+)['"]\s*\)"""
    r"""|\bnew\s+URL\(\s*['"](\.{1,2}/[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)""",
    re.MULTILINE,
)
# Lines of comments (`//`, and the `/*`, ` *` lines of block comments): usage examples there name
# paths as seen from elsewhere, and are not references.
_COMMENT_LINE = re.compile(r"^\s*(?://|/\*|\*).*$", re.MULTILINE)
# Rules shared by every theme, served together as layout.css; theme files only set variables
# (see themes/_layout.css). _content.css: what replies rendered from markdown look like.
_LAYOUT_PARTIALS = ("_layout.css", "_content.css")


def available_themes() -> list[str]:
    """Names accepted as `BuildConfig.theme` (`--theme`): `themes/<name>.css`.

    Files starting with `_` are partials shared by all themes, not themes.
    """
    return sorted(p.stem for p in asset_dir("themes").glob("*.css") if not p.name.startswith("_"))


@dataclass(frozen=True)
class SiteModel:
    """One model of a site, as the build converted it: its id (its folder under models/, its name
    in /v1/models), display `name`, manifest (sitegen/manifest.py) and model card (markdown, or None)."""

    model_id: str
    name: str
    manifest: dict
    model_card: str | None = None


def site_mode(manifest: dict) -> str:
    """"chat" for a model with a chat template, "completion" for a base model (manifest chat_template null)."""
    return "chat" if manifest["chat_template"] else "completion"


def check_one_mode(models: list[SiteModel]) -> None:
    """A site is a chat or a text-completion page, never both: SitegenError for base models beside chat models.

    Why refuse rather than offer the base models on a completion page beside the chat: a visitor
    picking a model in the chat's picker expects it to chat, and a base model only continues text
    (its "replies" would read as nonsense); two pages with two pickers sharing one loaded model
    would switch the model under the other page. Two sites (one per kind) say what each offers.
    """
    modes = {model.model_id: site_mode(model.manifest) for model in models}
    base = [model_id for model_id, mode in modes.items() if mode == "completion"]
    if base and len(base) < len(modes):
        chat = [model_id for model_id in modes if model_id not in base]
        raise SitegenError(f"{', '.join(base)} {'is a base model' if len(base) == 1 else 'are base models'} (no chat "
                           f"template) and {', '.join(chat)} {'chats' if len(chat) == 1 else 'chat'}: a site is a chat "
                           "or a text-completion page, not both. Build two sites: one of the chat models, one of the base "
                           "models.")


def assemble_site(site_dir: Path, *, models: list[SiteModel], config: BuildConfig) -> None:
    """Write the site's pages and assets into `site_dir`, beside the models already in `models/`.

    `models`: the site's models, the first the one a first visit loads; all chat models or all base
    models (check_one_mode). The site owner's choices come from `config`: title, description
    (where "{model_id}" stands for the models' names), theme, colors, starter_prompts and
    weights_url (None: the shards are in the site, next to the manifest). Of runtime/ it copies
    only what the pages and workers load (`_runtime_files`). Raises SitegenError for a theme that
    does not exist, for npm library files missing from runtime/vendor/ (`_site_libraries`), and for
    a module that imports a missing one.
    """
    check_one_mode(models)
    theme = _load_theme(config.theme, config.colors)
    first = models[0]
    mode = site_mode(first.manifest)
    names = _spoken_list([model.name for model in models])
    title = placeholders.fill(_site_text(config, "title", mode), model_id=names)
    common = {
        "mode": mode,
        "model_id": first.model_id,
        "model_names": names,
        "title": title,
        "description": placeholders.fill(_site_text(config, "description", mode), model_id=names),
        "theme": theme,
        "icon_sizes": ICON_SIZES,
        # The models as the pages and the service worker load them: one list, rendered into both.
        "models": [_model_entry(model, config.weights_url) for model in models],
        "weights_origin": _origin(config.weights_url) if config.weights_url else None,
        "theme_script": THEME_SCRIPT,
    }
    home_template, app_entry = PAGES[mode]
    # A site carries the code its pages and workers load, nothing more: a completion site has no
    # chat UI and no markdown libraries, and its About page does not list them.
    runtime, libraries = _runtime_files(_asset_files("runtime"), (app_entry, THEME_SCRIPT, SERVICE_WORKER_MODULE))
    files = {**runtime, **_asset_files("kernels")}
    files["theme.css"] = theme.css
    files["layout.css"] = b"\n".join((asset_dir("themes") / name).read_bytes() for name in _LAYOUT_PARTIALS)
    for size in ICON_SIZES:
        files[f"icon-{size}.png"] = _icon_png(size, theme.accent, theme.background)
    env = _template_env()
    files["index.html"] = _render(
        env,
        home_template,
        common,
        page=mode,
        app_entry=app_entry,
        starter_prompts=config.starter_prompts,
        # The first model's, as the page reads before its script runs; the script then shows the
        # running model's (its _model_entry chatSampling: runtime/ui/model_picker.js showModelDefaults).
        chat_sampling=first.manifest["chat_sampling"],
        field_defaults=_field_defaults(mode, first.manifest["chat_sampling"]),
    )
    files["about.html"] = _render(
        env,
        "about.html",
        common,
        page="about",
        about=[_about_model(model) for model in models],
        libraries=libraries,
        vendor_path=f"runtime/{VENDOR}",
    )
    # Launchers cut short names past about 12 characters; a long title falls back to the model id.
    files["manifest.webmanifest"] = _render(
        env, "manifest.webmanifest", common, short_name=title if len(title) <= 12 else first.model_id
    )
    # The service worker precaches everything above; its cache name changes whenever any of it does.
    files["sw.js"] = _render(
        env, "sw.js", common, version=_shell_version(files), shell=["./", *sorted(files)],
        service_worker_module=f"./{SERVICE_WORKER_MODULE}",
    )
    for relative, data in sorted(files.items()):
        target = site_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _model_entry(model: SiteModel, weights_url: str | None) -> dict:
    """A model as the pages (data-models) and the service worker (MODELS) know it: { id, name,
    manifestUrl (relative to the site), weightsUrl (the shards' folder URL, or None: beside the
    manifest), bytes (the weights' download size), chatSampling (its manifest's chat_sampling: the
    settings' defaults while it runs, runtime/app.js) }."""
    return {"id": model.model_id, "name": model.name, "manifestUrl": f"models/{quote(model.model_id)}/manifest.json",
            "weightsUrl": weights_url, "bytes": model.manifest["total_bytes"],
            "chatSampling": model.manifest["chat_sampling"]}


def _about_model(model: SiteModel) -> dict:
    """What the About page shows of one model: its id, name, facts and model card."""
    card_fields, card_html = _render_model_card(model.model_card)
    return {"model_id": model.model_id, "name": model.name, "facts": _model_facts(model.manifest),
            "card_fields": card_fields, "card_html": card_html}


def _spoken_list(names: list[str]) -> str:
    """"A", "A or B", "A, B or C": the models a title or sentence names."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# --- templates -------------------------------------------------------------------------------


def _site_text(config: BuildConfig, name: str, mode: str) -> str:
    """config's `name` (title, description), or COMPLETION_TEXTS' on a completion page where it is the default."""
    value = getattr(config, name)
    default = next(f.default for f in dataclasses.fields(config) if f.name == name)
    return COMPLETION_TEXTS[name] if mode == "completion" and value == default else value


def _field_defaults(mode: str, chat_sampling: dict | None) -> dict:
    """{settings field: the value its empty field stands for} where the page sets one."""
    defaults = {name: chat_sampling[name] for name in ("temperature", "top_p")} if chat_sampling else {}
    return {**defaults, "max_tokens": COMPLETION_MAX_TOKENS} if mode == "completion" else defaults


def _template_env() -> jinja2.Environment:
    # Autoescape everywhere: the JSON and JS templates only insert values through `tojson`.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(asset_dir("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bytes"] = format_bytes  # sizes as runtime/units.js writes them
    return env


def _render(env: jinja2.Environment, name: str, common: dict, **context) -> bytes:
    return env.get_template(name).render(**common, **context).encode("utf-8")


def _shell_version(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        # Length-prefixed so that moving bytes from one file to the next changes the hash.
        digest.update(f"{path}\0{len(files[path])}\0".encode())
        digest.update(files[path])
    return digest.hexdigest()[:16]


def _asset_files(name: str) -> dict[str, bytes]:
    """The files of an asset folder as site paths; READMEs are for developers and stay out."""
    root = asset_dir(name)
    return {
        f"{name}/{path.relative_to(root).as_posix()}": path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.name != "README.md"
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


def _runtime_files(runtime: dict[str, bytes], entries: tuple[str, ...]) -> tuple[dict[str, bytes], list[dict]]:
    """The files of runtime/ (`runtime`: site path -> bytes) that the site loads, and the npm libraries it ships.

    A file ships when one of `entries` (site paths of modules) reaches it through `_MODULE_REFERENCE`s,
    followed from module to module; runtime/vendor/ files are leaves (self-contained builds, never
    scanned) and ship with their library's licence. Returns (those files, the shipped libraries'
    libraries.json entries, in its order; a library bundled in another ships with it). Raises
    SitegenError for a reference to a module runtime/ lacks, and where `_site_libraries` does.
    """
    vendor = f"runtime/{VENDOR}/"
    libraries = _site_libraries()  # first: a checkout without the libraries gets the fix for that
    shipped = _reachable(runtime, entries, leaves=vendor)
    used = {entry["package"] for entry in libraries if any(vendor + name in shipped for name in entry["files"])}
    libraries = [entry for entry in libraries if entry["package"] in used or entry["bundled_in"] in used]
    shipped |= {vendor + entry["license_file"] for entry in libraries}
    return {path: data for path, data in runtime.items() if path in shipped}, libraries


def _reachable(files: dict[str, bytes], entries: tuple[str, ...], *, leaves: str) -> set[str]:
    """The paths of `files` that `entries` reach by _MODULE_REFERENCEs (only modules are read: not data
    files, nor files under `leaves`)."""
    seen, pending = set(), [(entry, "the site starts it") for entry in entries]
    while pending:
        path, why = pending.pop()
        if path in seen:
            continue
        if path not in files:
            raise SitegenError(f"{path} is missing from the site's runtime ({why}): add the file or fix the reference")
        seen.add(path)
        if path.startswith(leaves) or not path.endswith((".js", ".mjs")):  # data (a .wasm, a .json) refers to nothing
            continue
        for match in _MODULE_REFERENCE.finditer(_COMMENT_LINE.sub("", files[path].decode("utf-8"))):
            reference = next(filter(None, match.groups()))
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), reference))
            # References out of runtime/ (kernels/, which ships whole) and to folders are not files to follow.
            if target.startswith("runtime/") and (target in files or target.endswith((".js", ".mjs"))):
                pending.append((target, f"{path} refers to {reference!r}"))
    return seen


def _site_libraries() -> list[dict]:
    """The npm libraries in runtime/vendor/ (sitegen/site_libraries.py's libraries.json entries).

    They are copied there from node_modules by `make` or the wheel build, never committed; a
    checkout where that has not happened cannot make a working site, so it fails here with the fix.
    """
    vendor = asset_dir("runtime") / VENDOR
    fix = "the site's npm libraries are copied there by `make`, or by `npm ci` then `python -m sitegen.site_libraries`"
    try:
        entries = json.loads((vendor / DESCRIPTION).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SitegenError(f"runtime/{VENDOR}/{DESCRIPTION} is missing: {fix}") from None
    for entry in entries:
        for name in [*entry["files"], entry["license_file"]]:
            if not (vendor / name).is_file():
                raise SitegenError(f"runtime/{VENDOR}/{name} is missing: {fix}")
    return entries


# --- theme -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Theme:
    css: bytes
    accent: str  # "#rrggbb": theme-color, manifest theme_color, icon background
    background: str  # "#rrggbb": manifest background_color (splash screen), icon motif


def _theme_css(name: str) -> str:
    """The text of themes/<name>.css; SitegenError for an unknown theme."""
    themes = available_themes()
    if name not in themes:
        raise SitegenError(f"unknown theme {name!r}; available themes: {', '.join(themes)}")
    return (asset_dir("themes") / f"{name}.css").read_text(encoding="utf-8")


def _load_theme(name: str, colors: tuple[tuple[str, str], ...] = ()) -> _Theme:
    text = _theme_css(name)
    if colors:
        # Appended, so they win over the theme's own values (in both schemes of a light/dark theme).
        overrides = "".join(f"\n  --{key.replace('_', '-')}: {value};" for key, value in colors)
        text += f"\n/* Colours chosen for this site (sitegen build --color / colors:) */\n:root {{{overrides}\n}}\n"
    # The web app manifest and the icons carry one colour each: the light scheme's where the theme has both.
    first = next(iter(theme_schemes(name, colors).values()))
    missing = [variable for variable in ("accent", "bg") if variable not in first]
    if missing:
        raise SitegenError(f"theme {name!r} does not define --{missing[0]} as a #rrggbb colour")
    return _Theme(text.encode("utf-8"), first["accent"], first["bg"])


def theme_schemes(name: str, colors: tuple[tuple[str, str], ...] = ()) -> dict[str, dict[str, str]]:
    """The colours the theme `name` shows, after the `colors` overrides (BuildConfig.colors).

    Returns {"light": {...}, "dark": {...}} for a theme whose colours are light-dark(light, dark),
    else {scheme: {...}} with the one scheme its `color-scheme` names; each maps a colour name as
    BuildConfig.colors spells it ("accent_fg") to "#rrggbb", lower case. An override applies to
    every scheme, as the :root rule `_load_theme` appends does. Raises SitegenError for an
    unknown theme.
    """
    css = _theme_css(name)
    pairs = re.findall(r"(?<![\w-])--([\w-]+)\s*:\s*(?:light-dark\(\s*(#[0-9a-fA-F]{6})\s*,\s*(#[0-9a-fA-F]{6})\s*\)"
                       r"|(#[0-9a-fA-F]{6}))", css)
    if any(light for _, light, _, _ in pairs):
        schemes = {"light": {}, "dark": {}}
    else:
        scheme = re.search(r"color-scheme\s*:\s*(\w+)", css)
        schemes = {scheme.group(1) if scheme else "light": {}}
    for variable, light, dark, both in pairs:
        for scheme, colours in schemes.items():
            colours[variable.replace("-", "_")] = (both or (dark if scheme == "dark" else light)).lower()
    for key, value in colors:
        for colours in schemes.values():
            colours[key] = value.lower()
    return schemes


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- icons -----------------------------------------------------------------------------------


def _icon_png(size: int, fill: str, motif: str) -> bytes:
    """A square RGB PNG: a speech bubble in `motif` colour on `fill`, full bleed (maskable-safe)."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size  # pixel centres in unit coordinates
    bubble = (x - 0.5) ** 2 + (y - 0.46) ** 2 <= 0.28**2
    tail = _inside_triangle(x, y, (0.3, 0.6), (0.48, 0.72), (0.22, 0.82))
    pixels = np.where((bubble | tail)[..., None], _rgb(motif), _rgb(fill)).astype(np.uint8)
    # Each scanline starts with its filter type byte; 0 (none) keeps the encoder trivial.
    scanlines = np.concatenate([np.zeros((size, 1), np.uint8), pixels.reshape(size, 3 * size)], 1)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9))
        + _png_chunk(b"IEND", b"")
    )


def _inside_triangle(x: np.ndarray, y: np.ndarray, a, b, c) -> np.ndarray:
    def side(p, q):
        return (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1])

    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    has_negative = (d1 < 0) | (d2 < 0) | (d3 < 0)
    has_positive = (d1 > 0) | (d2 > 0) | (d3 > 0)
    return ~(has_negative & has_positive)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --- about page ------------------------------------------------------------------------------


def _model_facts(manifest: dict) -> list[tuple[str, str]]:
    arch = Architecture.from_manifest(manifest["architecture"])
    parameters = sum(math.prod(tensor["shape"]) for tensor in manifest["tensors"].values())
    return [
        ("Architecture", arch.family),
        ("Parameters", _format_count(parameters)),
        ("Layers", f"{arch.num_layers:,}"),
        ("Hidden size", f"{arch.hidden_size:,}"),
        ("Context length", f"{arch.context_length:,} tokens"),
        ("Quantisation", matrix_schemes(manifest)),
        ("Download size", format_bytes(manifest["total_bytes"])),
    ]


def _format_count(count: int) -> str:
    for scale, unit in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= scale:
            return f"{count / scale:.1f} {unit} ({count:,})"
    return f"{count:,}"


# YAML front matter as Hugging Face model cards carry it: a leading block between `---` lines.
_FRONT_MATTER = re.compile(
    r"\A\ufeff?---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE
)
_CARD_FIELDS = (("license", "License"), ("base_model", "Base model"))


def _render_model_card(card: str | None) -> tuple[list[tuple[str, str]], Markup | None]:
    """(front-matter rows to show, safe HTML of the card body); the card is untrusted input."""
    if card is None:
        return [], None
    meta, body = _split_front_matter(card)
    fields = [(label, _plain_text(meta.get(key))) for key, label in _CARD_FIELDS]
    converter = markdown.Markdown(
        extensions=[TableExtension(use_align_attribute=True), "fenced_code", _UntrustedMarkdown()]
    )
    # Markup: the converter escaped all raw HTML and defused links and images (_UntrustedMarkdown).
    return [(label, value) for label, value in fields if value], Markup(converter.convert(body))


def _split_front_matter(card: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(card)
    if not match:
        return {}, card
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        meta = None  # broken front matter is still front matter: hide it, show no fields
    return (meta if isinstance(meta, dict) else {}), card[match.end() :]


def _plain_text(value) -> str:
    # Only strings and lists of strings are shown; other YAML structures are ignored, not dumped.
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    return ""


class _UntrustedMarkdown(Extension):
    """Markdown for text from the internet: raw HTML becomes visible text; links only to the web.

    Python-Markdown passes raw HTML through by design (its old safe_mode is gone), so the two
    processors that do it are removed: block HTML and inline tags then reach the serializer as
    text and come out escaped.
    """

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # Below 'unescape' (priority 0), which rewrites attribute values: judge their final form.
        md.treeprocessors.register(_DefuseLinksAndImages(md), "defuse_links_and_images", -10)


_WEB_SCHEMES = {"http", "https", "mailto"}


class _DefuseLinksAndImages(Treeprocessor):
    def run(self, root) -> None:
        for link in root.iter("a"):
            if _is_web_link(link.get("href", "")):
                link.set("rel", "nofollow noreferrer")
            else:  # javascript:, data:, and relative links (to files of the HF repo, not ours)
                _to_plain_span(link)
        # Images would load from elsewhere (the CSP blocks them anyway) or point at files of the
        # model's repository that the site does not carry: show their alt text instead.
        for image in root.iter("img"):
            alt = image.get("alt", "")
            _to_plain_span(image)
            image.text = alt


def _is_web_link(href: str) -> bool:
    # Browsers decode entities and drop tabs and newlines inside a URL ("jav&#x61;script:",
    # "java\tscript:"), so the scheme is read from the decoded, squeezed form.
    decoded = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(href))
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", decoded)
    return bool(scheme) and scheme.group(1).lower() in _WEB_SCHEMES


def _to_plain_span(element) -> None:
    element.tag = "span"
    element.attrib.clear()
