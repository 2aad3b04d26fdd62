"""Site assembly: file set, relative URLs, no third-party origins, sanitised model card, icons,
service worker, determinism, the npm libraries in runtime/vendor/."""

import json
import re
import struct
import zlib
from html.parser import HTMLParser

import pytest

from sitegen import site, site_libraries
from sitegen.assets import asset_dir
from sitegen.config import BuildConfig
from sitegen.contrast import contrast_ratio
from sitegen.errors import SitegenError
from sitegen.manifest import matrix_schemes
from sitegen.site import SiteModel, assemble_site, available_themes, theme_schemes

# The keys of sitegen/manifest.py's schema that the site's pages read, with made-up values.
MANIFEST = {
    "model_id": "tiny-llama",
    "architecture": {
        "family": "llama", "hidden_size": 576, "num_layers": 30, "num_heads": 9, "num_kv_heads": 3,
        "head_dim": 64, "ffn_size": 1536, "vocab_size": 49152, "rope_theta": 100000.0, "rope_scaling": None,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "context_length": 8192, "attention_bias": False,
    },
    "quantization": {"scheme": "q4g32", "group_size": 32},
    "tensors": {
        "model.embed_tokens.weight": {"shape": [49152, 576], "scheme": "q4g32"},
        "model.norm.weight": {"shape": [576], "scheme": "f32"},
    },
    "shards": [
        {"file": "shard-00000.bin", "bytes": 33554432, "sha256": "a" * 64},
        {"file": "shard-00001.bin", "bytes": 1048576, "sha256": "b" * 64},
    ],
    "total_bytes": 34603008,
    "chat_template": {"template": "{{ messages }}", "special_tokens": {}, "chat_control_tokens": []},
    "chat_sampling": None,
}
# A base model's: no chat template.
BASE_MANIFEST = {**MANIFEST, "chat_template": None, "chat_sampling": {"temperature": 0.7, "top_p": 0.9, "source": "sitegen"}}
CARD = """---
license: apache-2.0
base_model:
- example/base-model
tags: [chat]
---
# Tiny Llama

A *small* model for tests.
"""
INJECTION = """# Card

<script>alert('script')</script>

<img src="x" onerror="alert('onerror')">

Inline <b onmouseover="alert('inline')">bold</b>
and <iframe src="https://evil.example/frame"></iframe>

[plain js](javascript:alert(1)) [entity js](jav&#x61;script:alert(2))
[tabbed js](<java\tscript:alert(3)>) [data](data:text/html;base64,PHNjcmlwdD4=)
[upper js](JaVaScRiPt:alert(4)) [escaped js](javascript\\:alert(5))

![remote image](https://evil.example/pixel.png) [web link](https://example.org/docs)

[ref js][r]

[r]: javascript:alert('ref')
"""
SHELL_FILES = {
    "index.html", "about.html", "theme.css", "layout.css",
    "manifest.webmanifest", "sw.js", "icon-192.png", "icon-512.png",
}


class _Tags(HTMLParser):
    """Every start tag of a page, as (tag, {attribute: value})."""

    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def build(site_dir, card=CARD, manifest=MANIFEST, **options):
    """Assemble like the build does: the model folder is already there."""
    model_dir = site_dir / "models" / "tiny-llama"
    model_dir.mkdir(parents=True)
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    assemble_site(site_dir, models=[SiteModel("tiny-llama", "tiny-llama", manifest, card)],
                  config=BuildConfig(model="tiny-llama", **options))
    return site_dir


def page_models(html: str) -> list[dict]:
    """The data-models list of a page's app element."""
    (app,) = [a for t, a in _Tags(html).tags if "data-models" in a]
    return json.loads(app["data-models"])


def worker_models(sw: str) -> list[dict]:
    """The MODELS list sw.js starts the service worker with."""
    return json.loads(re.search(r"const MODELS = (\[.*?\]);\n", sw).group(1))


def site_files(site_dir):
    return {p.relative_to(site_dir).as_posix(): p.read_bytes()
            for p in sorted(site_dir.rglob("*")) if p.is_file()
            and not p.relative_to(site_dir).as_posix().startswith("models/")}


def shipped_assets(name):
    root = asset_dir(name)
    return {f"{name}/{p.relative_to(root).as_posix()}" for p in root.rglob("*")
            if p.is_file() and p.name != "README.md"}


# runtime/vendor/ as sitegen/site_libraries.py writes it: lib-x (which bundles lib-y's code) and
# lib-z, which no module imports.
FAKE_VENDOR = {
    "vendor/libraries.json": json.dumps([
        {"package": "lib-x", "version": "1.2.3", "license": "MIT", "license_file": "licenses/lib-x.txt",
         "files": ["lib-x.mjs"], "purpose": "Testing", "bundled_in": None},
        {"package": "lib-y", "version": "2.0.0", "license": "ISC", "license_file": "licenses/lib-y.txt",
         "files": [], "purpose": "Inside lib-x", "bundled_in": "lib-x"},
        {"package": "lib-z", "version": "0.1.0", "license": "MIT", "license_file": "licenses/lib-z.txt",
         "files": ["lib-z.mjs"], "purpose": "Unused", "bundled_in": None}]),
    "vendor/lib-x.mjs": "export default 1;\n",
    "vendor/licenses/lib-x.txt": "MIT License\n",
    "vendor/licenses/lib-y.txt": "ISC License\n",
    "vendor/lib-z.mjs": "export default 3;\n",
    "vendor/licenses/lib-z.txt": "MIT License\n",
}
# runtime/ with the reference kinds the assembler follows: static imports (multi-line, re-exports),
# a worker's `new URL(..., import.meta.url)`, a literal import(); and what it must not follow:
# comment lines, a module nothing reaches.
FAKE_RUNTIME = {
    "app.js": "import {\n  chat,\n} from './ui/chat.js';\nimport lib from './vendor/lib-x.mjs';\n",
    "ui/chat.js": "export { shared as chat } from '../shared.js';\n",
    "ui/theme.js": "document.documentElement.dataset.theme = 'light';\n",
    "completion_app.js": "import { shared } from './shared.js';\n",
    "shared.js": "export const shared = 1;\n",
    "service_worker.js": "// import { no } from './commented.js';\n"
                         "const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });\n",
    "worker.js": "const engine = await import('./engine.js');\n",
    "engine.js": "export const x = 1;\n",
    "unused.js": "export {};\n",
    "README.md": "# dev notes\n",
    **FAKE_VENDOR,
}
CHAT_ONLY = {"runtime/app.js", "runtime/ui/chat.js", "runtime/vendor/lib-x.mjs", "runtime/vendor/licenses/lib-x.txt",
             "runtime/vendor/licenses/lib-y.txt"}
SHARED_RUNTIME = {"runtime/ui/theme.js", "runtime/shared.js", "runtime/service_worker.js", "runtime/worker.js",
                  "runtime/engine.js"}


@pytest.fixture
def fake_assets(tmp_path, monkeypatch):
    """Runtime and kernels folders with code in them, as they will look later."""
    fake = {}
    for name, files in {
        "runtime": FAKE_RUNTIME,
        "kernels": {"matmul_q4.wgsl": "@compute @workgroup_size(64) fn main() {}\n",
                    "README.md": "# dev notes\n"},
    }.items():
        for rel, text in files.items():
            (tmp_path / "assets" / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "assets" / name / rel).write_text(text)
        fake[name] = tmp_path / "assets" / name
    monkeypatch.setattr(site, "asset_dir", lambda name: fake.get(name) or asset_dir(name))
    return fake


# The chat page's own modules and the libraries only its replies use (markdown.js's): never on a
# completion site. What only the completion page loads: never on a chat site.
CHAT_PAGE_FILES = {"runtime/app.js", "runtime/ui/chat_view.js", "runtime/ui/conversation_list.js",
                   "runtime/ui/conversations.js", "runtime/ui/drawer.js", "runtime/ui/markdown.js",
                   "runtime/ui/pane_scroll.js", "runtime/ui/store.js", "runtime/vendor/markdown-it.mjs",
                   "runtime/vendor/highlight.mjs", "runtime/vendor/temml.mjs"}
COMPLETION_PAGE_FILES = {"runtime/completion_app.js", "runtime/ui/completion_view.js"}
# What both pages and the engine's hosts load.
BOTH_PAGES_FILES = {"runtime/ui/theme.js", "runtime/service_worker.js", "runtime/worker.js", "runtime/engine.js",
                    "runtime/ui/problem_box.js", "runtime/ui/settings.js", "runtime/ui/stop_button.js",
                    "runtime/vendor/jinja.mjs"}  # the engine renders chat templates


@pytest.mark.parametrize("manifest, own, other", [(MANIFEST, CHAT_PAGE_FILES, COMPLETION_PAGE_FILES),
                                                  (BASE_MANIFEST, COMPLETION_PAGE_FILES, CHAT_PAGE_FILES)],
                         ids=["chat", "completion"])
def test_a_site_carries_the_runtime_its_page_loads_and_nothing_else(tmp_path, manifest, own, other):
    files = site_files(build(tmp_path / "site", manifest=manifest))
    runtime = {path for path in files if path.startswith("runtime/")}
    assert own | BOTH_PAGES_FILES <= runtime
    assert not other & runtime
    assert set(files) == SHELL_FILES | runtime | shipped_assets("kernels")
    assert runtime <= shipped_assets("runtime") and "runtime/vendor/libraries.json" not in runtime
    assert (tmp_path / "site/models/tiny-llama/manifest.json").is_file()  # left alone
    # The service worker precaches exactly what the site carries.
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", files["sw.js"].decode()).group(1))
    assert shell == ["./", *sorted(set(files) - {"sw.js"})]


def test_a_base_model_gets_the_completion_page(tmp_path):
    files = site_files(build(tmp_path / "site", manifest=BASE_MANIFEST))
    page = files["index.html"].decode()
    tags = _Tags(page).tags
    assert {"type": "module", "src": "runtime/completion_app.js"} in [a for t, a in tags if t == "script"]
    assert ("body", {"class": "completion-page"}) in tags
    assert "tiny-llama is a base model: it does not chat or follow instructions, it continues the text you write." in page
    assert 'aria-current="page">Text completion</a>' in page
    # The chat page's settings, loader and problem box, without a system prompt or conversations.
    fields = {a["name"]: a for t, a in tags if t == "input" and a.get("id", "").startswith("setting-")}
    assert fields["max_tokens"]["data-chat-default"] == str(site.COMPLETION_MAX_TOKENS)
    assert fields["temperature"]["data-chat-default"] == "0.7"
    assert "and at most 64 tokens" in page and "Settings apply from the next completion." in page
    assert 'class="problem"' in page and 'class="load-progress"' in page and 'class="update notice"' in page
    assert 'name="system"' not in page and "conversation" not in page
    assert "A new version of this page is ready." in page
    assert "<title>tiny-llama: text completion</title>" in page and "Text completion with tiny-llama, a base model." in page
    owned = site_files(build(tmp_path / "owned", manifest=BASE_MANIFEST, title="Tiny"))["index.html"].decode()
    assert "<title>Tiny</title>" in owned  # the owner's own title stays
    chat = site_files(build(tmp_path / "chat"))["index.html"].decode()
    assert 'src="runtime/app.js"' in chat and 'name="system"' in chat and 'data-chat-default' not in chat
    assert "A new version of this chat is ready." in chat and 'aria-current="page">Chat</a>' in chat
    assert 'class="site-header"' in files["about.html"].decode() and ">Text completion</a>" in files["about.html"].decode()


def test_the_runtime_copied_is_what_the_entry_modules_reach(tmp_path, fake_assets):
    files = site_files(build(tmp_path / "site"))
    assert set(files) - SHELL_FILES == CHAT_ONLY | SHARED_RUNTIME | {"kernels/matmul_q4.wgsl"}
    assert files["runtime/worker.js"] == (fake_assets["runtime"] / "worker.js").read_bytes()
    kernel = fake_assets["kernels"] / "matmul_q4.wgsl"
    assert files["kernels/matmul_q4.wgsl"] == kernel.read_bytes()  # kernels/ ships whole, READMEs aside
    scripts = [a for t, a in _Tags(files["index.html"].decode()).tags if t == "script"]
    assert scripts == [{"src": "runtime/ui/theme.js"}, {"type": "module", "src": "runtime/app.js"}]
    completion = site_files(build(tmp_path / "completion", manifest=BASE_MANIFEST))
    assert set(completion) - SHELL_FILES == {"runtime/completion_app.js", *SHARED_RUNTIME, "kernels/matmul_q4.wgsl"}


def test_a_reference_to_a_missing_module_names_it_and_who_refers(tmp_path, fake_assets):
    (fake_assets["runtime"] / "engine.js").unlink()
    with pytest.raises(SitegenError, match=r"^runtime/engine\.js is missing from the site's runtime "
                                           r"\(runtime/worker\.js refers to '\./engine\.js'\): add the file"):
        build(tmp_path / "site")
    assert not (tmp_path / "site" / "index.html").exists()


def test_pages_are_accessible_and_self_contained(tmp_path):
    files = site_files(build(tmp_path / "site", title="Tiny chat", description="Talk to tiny."))
    for page in ("index.html", "about.html"):
        text = files[page].decode()
        tags = _Tags(text).tags
        assert tags[0] == ("html", {"lang": "en"})
        metas = {a.get("name") or a.get("http-equiv"): a.get("content")
                 for t, a in tags if t == "meta"}
        assert metas["viewport"] == "width=device-width, initial-scale=1"
        assert metas["description"] == "Talk to tiny."
        assert metas["Content-Security-Policy"].startswith("default-src 'self';")
        assert "unsafe-inline" not in metas["Content-Security-Policy"]
        links = {a["rel"]: a["href"] for t, a in tags if t == "link" and a["rel"] != "stylesheet"}
        assert links["manifest"] == "manifest.webmanifest"
        styles = [a["href"] for t, a in tags if t == "link" and a["rel"] == "stylesheet"]
        assert styles == ["theme.css", "layout.css"]
        assert "about.html" in [a["href"] for t, a in tags if t == "a"]
        # No inline scripts, no inline styles, no inline event handlers.
        assert all("src" in a for t, a in tags if t == "script")
        assert not [k for t, a in tags for k in a if k.startswith("on") or k == "style"]
        assert "<style" not in text
    assert "<title>Tiny chat</title>" in files["index.html"].decode()
    starters = [a["data-prompt"] for t, a in _Tags(files["index.html"].decode()).tags
                if t == "button" and a.get("class") == "starter"]
    assert starters == list(BuildConfig(model="tiny-llama").starter_prompts)


def test_all_urls_are_relative_and_same_origin(tmp_path, fake_assets):
    files = site_files(build(tmp_path / "site"))
    for path, data in files.items():
        if path.endswith(".png"):
            continue
        text = data.decode()
        assert "://" not in text, path  # no other origin, not even in a comment
        assert not re.search(r"""(?:href|src|action)\s*=\s*["']?/""", text), path
        assert not re.search(r"""url\(\s*["']?/|@import""", text), path
    webmanifest = json.loads(files["manifest.webmanifest"])
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", files["sw.js"].decode()).group(1))
    icons = [icon["src"] for icon in webmanifest["icons"]]
    urls = [webmanifest["start_url"], webmanifest["scope"], *icons, *shell]
    assert urls and not [u for u in urls if u.startswith("/")]


def test_about_page_shows_manifest_facts_and_card(tmp_path):
    about = (build(tmp_path / "site") / "about.html").read_text()
    rows = dict(re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', about))
    assert rows == {
        "Architecture": "llama",
        "Parameters": "28.3 M (28,312,128)",  # 49152 * 576 + 576
        "Layers": "30",
        "Hidden size": "576",
        "Context length": "8,192 tokens",
        "Quantisation": "q4g32",
        "Download size": "34.6 MB",  # 32 MiB + 1 MiB of shards: 34,603,008 bytes
        "License": "apache-2.0",
        "Base model": "example/base-model",
    }
    assert "<h1>Tiny Llama</h1>" in about and "<em>small</em>" in about
    assert "tags:" not in about and "---" not in about  # front matter is not shown as text


def test_about_page_without_a_card(tmp_path):
    about = (build(tmp_path / "site", card=None) / "about.html").read_text()
    assert "This model came without a model card." in about
    assert "License" not in about


def test_model_card_html_is_escaped_and_links_defused(tmp_path):
    about = (build(tmp_path / "site", card=INJECTION) / "about.html").read_text()
    tags = _Tags(about).tags
    assert [t for t, a in tags if t in ("iframe", "img", "b")] == []
    assert [a for t, a in tags if t == "script"] == [{"src": "runtime/ui/theme.js"}]  # ours only
    assert not [k for t, a in tags for k in a if k.startswith("on")]
    hrefs = [a["href"] for t, a in tags if t == "a" and not a["href"].startswith("runtime/vendor/licenses/")]
    assert hrefs == ["#main", "./", "./", "about.html", "https://example.org/docs"]
    assert ("a", {"href": "https://example.org/docs", "rel": "nofollow noreferrer"}) in tags
    # The payloads survive as visible text, and the link texts and image alt text stay readable.
    for text in (
        "<p>&lt;script&gt;alert('script')&lt;/script&gt;</p>",
        "<p>&lt;img src=\"x\" onerror=\"alert('onerror')\"&gt;</p>",
        "Inline &lt;b onmouseover=\"alert('inline')\"&gt;bold&lt;/b&gt;\nand &lt;iframe",
        "&lt;iframe src=\"https://evil.example/frame\"&gt;&lt;/iframe&gt;",
        "<p><span>plain js</span> <span>entity js</span>\n"
        "<span>tabbed js</span> <span>data</span>\n"
        "<span>upper js</span> <span>escaped js</span></p>",
        "<p><span>remote image</span> <a",
        "<p><span>ref js</span></p>",
    ):
        assert text in about
    assert "evil.example/pixel.png" not in about


def test_builds_are_byte_identical(tmp_path, fake_assets):
    first = site_files(build(tmp_path / "one", card=INJECTION, theme="slate"))
    second = site_files(build(tmp_path / "two", card=INJECTION, theme="slate"))
    assert first == second


def test_service_worker_precaches_the_shell_under_a_content_version(tmp_path, fake_assets):
    files = site_files(build(tmp_path / "one"))
    sw = files["sw.js"].decode()
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", sw).group(1))
    assert shell == ["./", *sorted(set(files) - {"sw.js"})]
    version = re.search(r'const VERSION = "([0-9a-f]{16})";', sw).group(1)
    # The worker's logic lives in runtime/service_worker.js; the rendered shell only starts it.
    assert "startServiceWorker({ version: VERSION, shell: SHELL, models: MODELS })" in sw
    # Any change to a shell file gives a new cache name (same inputs, same name: see above).
    changed = site_files(build(tmp_path / "two", title="Another title"))["sw.js"].decode()
    assert re.search(r'const VERSION = "([0-9a-f]{16})";', changed).group(1) != version


def test_web_app_manifest(tmp_path):
    files = site_files(build(tmp_path / "site", theme="slate"))
    webmanifest = json.loads(files["manifest.webmanifest"])
    assert webmanifest == {
        "name": "Chat with tiny-llama",
        "short_name": "tiny-llama",
        "description": webmanifest["description"],
        "lang": "en",
        "start_url": "./",
        "scope": "./",
        "display": "standalone",
        "theme_color": "#5fb3a1",  # slate's --accent
        "background_color": "#1e2530",  # slate's --bg
        "icons": [
            {"src": "icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "icon-512.png", "sizes": "512x512", "type": "image/png"},
        ],
    }
    assert files["theme.css"] == (asset_dir("themes") / "slate.css").read_bytes()


@pytest.mark.parametrize("size", [192, 512])
def test_icons_are_valid_pngs(tmp_path, size):
    png = (build(tmp_path / "site") / f"icon-{size}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        kind, data = png[offset + 4:offset + 8], png[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks.append((kind, data))
        offset += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (size, size, 8, 2, 0, 0, 0)
    pixels = zlib.decompress(chunks[1][1])
    assert len(pixels) == size * (1 + 3 * size)
    corner = pixels[1:4]  # first pixel: the theme's accent colour
    assert corner == bytes.fromhex("2b59c3")


def test_unknown_theme_lists_the_available_ones(tmp_path):
    assert available_themes() == ["default", "slate"]
    expected = r"unknown theme 'neon'; available themes: default, slate"
    with pytest.raises(SitegenError, match=expected):
        build(tmp_path / "site", theme="neon")


# Runs the generated sw.js in Node against stand-ins for the service worker globals (scope
# https://user.github.io/repo/, as on GitHub Pages) and reports what it did.


def test_weights_url_reaches_the_page_and_the_csp(tmp_path):
    files = site_files(build(tmp_path / "site", weights_url="https://huggingface.co/me/w/resolve/main/"))
    (model,) = page_models(files["index.html"].decode())
    assert model["weightsUrl"] == "https://huggingface.co/me/w/resolve/main/"
    # the service worker loads the model for the site's OpenAI endpoint from the same place
    assert worker_models(files["sw.js"].decode()) == [model]
    for page in ("index.html", "about.html"):
        csp = _csp(files[page].decode())
        assert "connect-src 'self' https://huggingface.co;" in csp and csp.startswith("default-src 'self';")


def test_without_weights_url_the_csp_allows_only_the_own_origin(tmp_path):
    files = site_files(build(tmp_path / "site"))
    assert page_models(files["index.html"].decode())[0]["weightsUrl"] is None
    assert "connect-src 'self';" in _csp(files["index.html"].decode())


def test_the_csp_lets_scripts_compile_webassembly_and_nothing_more(tmp_path):
    # The CPU backend's kernels and xgrammar are WebAssembly: 'wasm-unsafe-eval' allows compiling
    # them, without 'unsafe-eval' (eval, new Function) or any other source of scripts.
    files = site_files(build(tmp_path / "site"))
    for page in ("index.html", "about.html"):
        assert _csp(files[page].decode()) == ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; "
                                              "base-uri 'self'; form-action 'self'; object-src 'none'")


def test_the_cpu_backend_ships_and_is_precached_for_offline(tmp_path):
    files = site_files(build(tmp_path / "site"))
    # runtime/wasm/kernels.js loads the kernels by new URL('./kernels.wasm', import.meta.url), and
    # the model reads kernels/limits.json: both ship as the repository has them.
    for path in ("runtime/wasm/kernels.wasm", "runtime/wasm/model.js", "kernels/limits.json"):
        assert files[path] == (asset_dir(path.split("/")[0]) / path.split("/", 1)[1]).read_bytes(), path
    assert files["runtime/wasm/kernels.wasm"][:4] == b"\0asm"
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", files["sw.js"].decode()).group(1))
    assert {"runtime/wasm/kernels.wasm", "kernels/limits.json"} <= set(shell)


def test_colour_overrides_win_in_css_manifest_and_icons(tmp_path):
    files = site_files(build(tmp_path / "site", colors=(("accent", "#aa3300"), ("bg", "#fafafa"))))
    css = files["theme.css"].decode()
    assert css.rstrip().endswith(":root {\n  --accent: #aa3300;\n  --bg: #fafafa;\n}")
    manifest = json.loads(files["manifest.webmanifest"])
    assert manifest["theme_color"] == "#aa3300" and manifest["background_color"] == "#fafafa"
    assert '<meta name="theme-color" content="#aa3300">' in files["index.html"].decode()


def test_light_dark_theme_colours_give_the_light_one_to_the_manifest(tmp_path):
    manifest = json.loads(site_files(build(tmp_path / "site"))["manifest.webmanifest"])
    assert manifest["theme_color"] == "#2b59c3" and manifest["background_color"] == "#ffffff"


def _csp(page):
    (meta,) = [a for t, a in _Tags(page).tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    return meta["content"]


def test_title_and_description_may_name_the_model_and_starters_may_be_none(tmp_path):
    files = site_files(build(tmp_path / "site", title="Ask {model_id}", description="{model_id}, on your GPU.",
                             starter_prompts=()))
    index = files["index.html"].decode()
    metas = {a.get("name"): a.get("content") for t, a in _Tags(index).tags if t == "meta"}
    assert "<title>Ask tiny-llama</title>" in index and metas["description"] == "tiny-llama, on your GPU."
    assert 'class="starter"' not in index  # `starter_prompts: []` in sitegen.yml: no starter buttons
    # {{ and }} write a brace; what BuildConfig's check lets through is all the assembler fills in.
    index = site_files(build(tmp_path / "braces", title="{{model_id}} is {model_id}"))["index.html"].decode()
    assert "<title>{model_id} is tiny-llama</title>" in index


# --- the npm libraries (sitegen/site_libraries.py) -------------------------------------------


def listed_libraries(site_dir):
    """The packages the About page of the site in `site_dir` lists."""
    about = (site_dir / "about.html").read_text()
    return set(re.findall(r'<th scope="row">([^<]+)</th>\s*<td>[^<]*</td>\s*<td><a href="runtime/vendor/', about))


def test_a_site_ships_the_libraries_its_page_uses_with_their_licences(tmp_path):
    entries = json.loads((asset_dir("runtime") / "vendor/libraries.json").read_text())
    chat, completion = build(tmp_path / "chat"), build(tmp_path / "completion", manifest=BASE_MANIFEST)
    # The chat page's reply renderer's (runtime/ui/markdown.js); the engine's (the chat template's
    # jinja, ...) ship on both.
    markdown = {"markdown-it", "entities", "linkify-it", "mdurl", "punycode.js", "uc.micro", "@highlightjs/cdn-assets", "temml"}
    assert {"@huggingface/jinja", *markdown} <= listed_libraries(chat)
    assert listed_libraries(completion) == listed_libraries(chat) - markdown
    for site_dir in (chat, completion):
        for entry in entries:
            paths = [site_dir / "runtime/vendor" / name for name in [*entry["files"], entry["license_file"]]]
            shipped = entry["package"] in listed_libraries(site_dir)
            assert all(path.is_file() == shipped for path in paths), (site_dir.name, entry["package"])
    # The copies are ES modules that markdown.js imports by these names.
    for name in ("markdown-it.mjs", "highlight.mjs", "temml.mjs"):
        assert re.search(rb"export\s*\{[^}]*default|export default", (chat / "runtime/vendor" / name).read_bytes()), name


def test_about_page_lists_the_libraries_with_their_licences(tmp_path, fake_assets):
    about = (build(tmp_path / "site") / "about.html").read_text()
    row = re.search(r"<th scope=\"row\">lib-x</th>\s*<td>1\.2\.3</td>\s*"
                    r"<td><a href=\"runtime/vendor/licenses/lib-x\.txt\">MIT</a></td>\s*<td>Testing</td>", about)
    assert row, about
    assert ">lib-y</th>" in about  # bundled in lib-x: listed with it
    assert ">lib-z</th>" not in about  # no module imports it: not shipped, not listed
    completion = (build(tmp_path / "completion", manifest=BASE_MANIFEST) / "about.html").read_text()
    assert ">lib-x</th>" not in completion and ">lib-y</th>" not in completion  # only the chat page imports it


@pytest.mark.parametrize("missing", ["vendor/libraries.json", "vendor/lib-x.mjs", "vendor/licenses/lib-x.txt"])
def test_a_build_without_the_library_files_says_how_to_get_them(tmp_path, fake_assets, missing):
    (fake_assets["runtime"] / missing).unlink()
    with pytest.raises(SitegenError) as error:
        build(tmp_path / "site")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"runtime/{missing} is missing") and "`make`" in message and "npm ci" in message
    assert not (tmp_path / "site" / "index.html").exists()


def test_copy_libraries_reports_what_node_modules_lacks(tmp_path):
    with pytest.raises(site_libraries.LibraryError, match=r"@huggingface/jinja/package\.json is missing: run `npm ci`"):
        site_libraries.copy_libraries(tmp_path / "node_modules", tmp_path / "runtime")
    assert not (tmp_path / "runtime" / "vendor").exists()
    assert list((tmp_path / "runtime").iterdir()) == []  # no half-copied folder left


def test_copy_libraries_makes_a_global_script_a_module(tmp_path):
    for library in site_libraries.LIBRARIES:
        package = tmp_path / "node_modules" / library.package
        package.mkdir(parents=True)
        (package / library.license_file).write_text("licence\n")
        # After the licence: a package without a licence file has its package.json stand for it.
        (package / "package.json").write_text(json.dumps({"version": "1.0.0", "license": "MIT"}))
        for source in library.files:
            (package / source).parent.mkdir(parents=True, exist_ok=True)
            (package / source).write_text("var temml=function(){return 1}();" if library.export_global else "export {};")
    entries = site_libraries.copy_libraries(tmp_path / "node_modules", tmp_path / "runtime")
    vendor = tmp_path / "runtime" / "vendor"
    assert (vendor / "temml.mjs").read_text() == "var temml=function(){return 1}();\nexport default temml;\n"
    assert (vendor / "markdown-it.mjs").read_text() == "export {};"
    assert json.loads((vendor / "libraries.json").read_text()) == entries
    assert {entry["license_file"] for entry in entries} == {
        f"licenses/{path.name}" for path in (vendor / "licenses").iterdir()}


def test_highlighting_colours_meet_aa_on_the_code_background_of_every_theme():
    css = (asset_dir("themes") / "_content.css").read_text()
    palette = re.findall(r"--(hl-[\w-]+):\s*light-dark\((#[0-9a-f]{6}),\s*(#[0-9a-f]{6})\)", css)
    assert len(palette) >= 6
    for theme in available_themes():
        for scheme, colours in theme_schemes(theme).items():
            for name, light, dark in palette:
                colour = dark if scheme == "dark" else light
                ratio = contrast_ratio(colour, colours["surface"])
                assert ratio >= 4.5, f"{name} {colour} on {theme}/{scheme} surface {colours['surface']}: {ratio:.2f}"


def test_layout_css_carries_the_reply_content_rules(tmp_path):
    layout = (build(tmp_path / "site") / "layout.css").read_bytes()
    assert (asset_dir("themes") / "_content.css").read_bytes() in layout
    assert b".hljs-keyword" in layout and b"math.tml-display" in layout


def test_about_page_names_the_schemes_the_matrices_use():
    # a GGUF source's blocks keep their own schemes: --quant's q4g32 alone would mislead
    tensors = {"a": {"shape": [2, 32], "scheme": "q8g32"}, "b": {"shape": [2, 32], "scheme": "q8g32"},
               "c": {"shape": [2, 32], "scheme": "q4g32m"}, "norm": {"shape": [32], "scheme": "f32"}}
    assert matrix_schemes({"tensors": tensors}) == "q8g32 (2 matrices), q4g32m (1)"
    assert matrix_schemes({"tensors": {"a": {"shape": [2, 32], "scheme": "f16"}, **tensors}}) != "f16"
    assert matrix_schemes({"tensors": {"a": {"shape": [2, 32], "scheme": "f16"}}}) == "f16"


# --- several models ----------------------------------------------------------------------------


OTHER_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "source": "model card"}


def two_model_site(site_dir, second=MANIFEST, **options):
    """A site of tiny-llama and "Other" (model id other-model, with OTHER_SAMPLING), as the build assembles it."""
    models = [SiteModel("tiny-llama", "tiny-llama", MANIFEST, CARD),
              SiteModel("other-model", "Other", {**second, "total_bytes": 2_000_000, "chat_sampling": OTHER_SAMPLING},
                        None)]
    assemble_site(site_dir, models=models, config=BuildConfig(model="tiny-llama", **options))
    return site_files(site_dir)


def test_a_site_of_two_models_lists_both_to_the_pages_and_the_service_worker(tmp_path):
    files = two_model_site(tmp_path / "site")
    index = files["index.html"].decode()
    models = page_models(index)
    assert models == [
        {"id": "tiny-llama", "name": "tiny-llama", "manifestUrl": "models/tiny-llama/manifest.json",
         "weightsUrl": None, "bytes": 34603008, "chatSampling": None},
        {"id": "other-model", "name": "Other", "manifestUrl": "models/other-model/manifest.json",
         "weightsUrl": None, "bytes": 2_000_000, "chatSampling": OTHER_SAMPLING},
    ]  # each model's own settings defaults: the page shows the running model's
    assert worker_models(files["sw.js"].decode()) == models  # one list, rendered into both
    # The picker: one radio button per model, with its name and size.
    radios = [a["value"] for t, a in _Tags(index).tags if t == "input" and a.get("name") == "model"]
    assert radios == ["tiny-llama", "other-model"]
    assert '<span class="model-name">Other</span>' in index and '<span class="model-size">2.0 MB</span>' in index
    assert "<title>Chat with tiny-llama or Other</title>" in index
    assert "tiny-llama or Other run in your browser" in index
    assert "Empty fields use the defaults of the model that runs" in index  # not the first model's values


def test_the_about_page_of_two_models_shows_each_and_the_endpoint_lists_both(tmp_path):
    about = two_model_site(tmp_path / "site")["about.html"].decode()
    assert "<h1>About tiny-llama or Other</h1>" in about
    assert '<h2 id="model-2-heading">Other (<code>other-model</code>)</h2>' in about
    assert about.count("Model facts") == 2 and "This model came without a model card." in about
    assert "lists the models, <code>tiny-llama</code>, <code>other-model</code>." in about
    ids = [a["id"] for t, a in _Tags(about).tags if "id" in a]
    assert len(ids) == len(set(ids))  # headings of each model keep unique ids


def test_a_site_of_one_model_has_no_picker(tmp_path):
    index = site_files(build(tmp_path / "site"))["index.html"].decode()
    assert "model-picker" not in index and len(page_models(index)) == 1


def test_base_models_beside_chat_models_are_refused(tmp_path):
    with pytest.raises(SitegenError, match=r"other-model is a base model \(no chat template\) and tiny-llama chats: "
                                           "a site is a chat or a text-completion page, not both") as refused:
        two_model_site(tmp_path / "site", second=BASE_MANIFEST)
    # The fix it offers must work: --chat-template is refused with several models.
    assert str(refused.value).endswith("Build two sites: one of the chat models, one of the base models.")
    assert "--chat-template" not in str(refused.value)


def test_a_site_of_two_base_models_is_a_completion_page_with_the_picker(tmp_path):
    models = [SiteModel("base-a", "A", BASE_MANIFEST), SiteModel("base-b", "B", BASE_MANIFEST)]
    assemble_site(tmp_path / "site", models=models, config=BuildConfig(model="base-a"))
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'class="completion-app"' in index and 'class="model-picker"' in index
    assert "A or B are base models: they do not chat or follow instructions, they continue the text" in index
