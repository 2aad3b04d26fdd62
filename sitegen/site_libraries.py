"""The npm libraries a site ships, and their copy from node_modules/ into runtime/vendor/.

DESIGN.md "Dependencies": for concerns outside our core (here: running the model's jinja chat
template, and markdown, code highlighting and math in chat replies) the site may ship a well-kept npm library, pinned in package-lock.json and
copied into the package at build time, never committed and never fetched from another host at run
time. `LIBRARIES` is the one list of them: which files of each package the site ships, under which
names, and which file holds its licence. The versions are package-lock.json's (what `npm ci`
installed); the licence ids are the packages' own (`license` in their package.json).

`copy_libraries` writes those files and the licence texts into runtime/vendor/ (gitignored) with
`libraries.json`, the folder's description that the site assembler reads (sitegen/site.py: the
About page lists it, and a build without the files stops). It runs from `make` and from the
wheel's build hook (hatch_build.py), so it uses the standard library only and imports nothing
from sitegen.

    python -m sitegen.site_libraries            # copy (after `npm ci`)
    python -m sitegen.site_libraries --sizes    # the README's size table, from the copied files
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENDOR = "vendor"  # under runtime/: the site serves it as runtime/vendor/
DESCRIPTION = "libraries.json"
LICENSES = "licenses"


@dataclass(frozen=True)
class Library:
    """One npm package whose code the site carries.

    files: path in the package -> name in runtime/vendor/ (runtime/chat_template.js and
    runtime/ui/markdown.js import these names). export_global: the shipped file is a classic script that defines this global (`var
    temml = ...`); the copy appends `export default <name>;`, which makes it an ES module, so the
    minified build ships instead of an unminified ES one three times its size. bundled_in: the
    package has no file of its own; its code is inside that library's file, and only its licence
    ships.
    """

    package: str
    purpose: str
    license_file: str
    files: dict[str, str] = field(default_factory=dict)
    export_global: str | None = None
    bundled_in: str | None = None


_IN_MARKDOWN_IT = "inside markdown-it's browser build"
LIBRARIES = (
    # The chat template runs as written (runtime/chat_template.js). Its ES build imports nothing;
    # there is no minified one.
    Library("@huggingface/jinja", "Runs the model's jinja chat template", "LICENSE", {"dist/index.js": "jinja.mjs"}),
    # The browser build bundles the parser's own dependencies into one self-contained ES module.
    Library("markdown-it", "Markdown parser for chat replies", "LICENSE",
            {"dist/browser/markdown-it.esm.min.mjs": "markdown-it.mjs"}),
    Library("entities", f"HTML entity decoding, {_IN_MARKDOWN_IT}", "LICENSE", bundled_in="markdown-it"),
    Library("linkify-it", f"Finding bare URLs in text, {_IN_MARKDOWN_IT}", "LICENSE", bundled_in="markdown-it"),
    Library("mdurl", f"URL parsing and encoding, {_IN_MARKDOWN_IT}", "LICENSE", bundled_in="markdown-it"),
    Library("punycode.js", f"Internationalised domain names, {_IN_MARKDOWN_IT}", "LICENSE-MIT.txt",
            bundled_in="markdown-it"),
    Library("uc.micro", f"Unicode character classes, {_IN_MARKDOWN_IT}", "LICENSE.txt", bundled_in="markdown-it"),
    # The ES build with highlight.js's "common" set of languages (about 35: the usual ones).
    Library("@highlightjs/cdn-assets", "Syntax highlighting of code blocks (highlight.js)", "LICENSE",
            {"es/highlight.min.js": "highlight.mjs"}),
    # MathML output, which browsers lay out natively: no fonts and no inline styles to ship.
    Library("temml", "LaTeX math to MathML", "LICENSE", {"dist/temml.min.js": "temml.mjs"}, export_global="temml"),
    # Token masks of constrained decoding (runtime/grammar.js): xgrammar in WASM, inlined in its UMD build, which
    # defines the global `xgrammar`. The package ships no licence text; its package.json declares Apache-2.0.
    Library("@mlc-ai/web-xgrammar", "JSON Schema and grammar constraints on the reply (xgrammar)", "package.json",
            {"lib/index.js": "xgrammar.mjs"}, export_global="xgrammar"),
)


class LibraryError(Exception):
    """node_modules/ lacks a package or file the site ships; the message says what to run."""


def license_name(package: str) -> str:
    """The licence text's file name in runtime/vendor/licenses/ ("@a/b" -> "a-b.txt")."""
    return package.removeprefix("@").replace("/", "-") + ".txt"


def copy_libraries(node_modules: Path = REPO / "node_modules", runtime: Path = REPO / "runtime") -> list[dict]:
    """Copy each library's files and licence into `runtime`/vendor/, replacing what was there.

    Returns the entries written to vendor/libraries.json, in `LIBRARIES` order: {"package",
    "version", "license" (SPDX id), "license_file" and "files" (paths relative to vendor/),
    "purpose", "bundled_in" (a package name or null)}. Raises LibraryError, naming the missing
    path, when node_modules/ lacks a package or one of its files (npm ci has not run).
    """
    vendor = runtime / VENDOR
    staged = runtime / f".{VENDOR}-new"  # a dot folder: never shipped, even if a copy is cut short
    shutil.rmtree(staged, ignore_errors=True)
    (staged / LICENSES).mkdir(parents=True)
    try:
        entries = [_copy_library(library, node_modules / library.package, staged) for library in LIBRARIES]
    except LibraryError:
        shutil.rmtree(staged)
        raise
    (staged / DESCRIPTION).write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(vendor, ignore_errors=True)
    staged.rename(vendor)
    return entries


def _copy_library(library: Library, package_dir: Path, vendor: Path) -> dict:
    meta = json.loads(_read(package_dir / "package.json").decode("utf-8"))
    for source, name in library.files.items():
        data = _read(package_dir / source)
        if library.export_global:
            data += f"\nexport default {library.export_global};\n".encode()
        (vendor / name).write_bytes(data)
    license_file = f"{LICENSES}/{license_name(library.package)}"
    (vendor / license_file).write_bytes(_read(package_dir / library.license_file))
    return {
        "package": library.package, "version": meta["version"], "license": meta["license"],
        "license_file": license_file, "files": sorted(library.files.values()),
        "purpose": library.purpose, "bundled_in": library.bundled_in,
    }


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LibraryError(f"{path} is missing: run `npm ci` first (the site's libraries come from node_modules)") from None


def size_table(runtime: Path = REPO / "runtime") -> str:
    """The README's table: the bytes each library adds to a site, as shipped and gzip-compressed
    (as most static hosts send them), and their total. Run after the copy."""
    vendor = runtime / VENDOR
    entries = json.loads((vendor / DESCRIPTION).read_text(encoding="utf-8"))
    rows = ["| library | version | licence | files shipped | bytes | gzip bytes |",
            "| --- | --- | --- | --- | ---: | ---: |"]
    total = [0, 0]
    for entry in entries:
        paths = [vendor / name for name in [*entry["files"], entry["license_file"]]]
        size = [sum(path.stat().st_size for path in paths), sum(_gzip_size(path) for path in paths)]
        shipped = (f"licence only (code inside {entry['bundled_in']}'s file)" if entry["bundled_in"]
                   else f"{', '.join(entry['files'])} + licence")
        rows.append(f"| {entry['package']} | {entry['version']} | {entry['license']} | {shipped} | "
                    f"{size[0]:,} | {size[1]:,} |")
        total = [total[0] + size[0], total[1] + size[1]]
    rows.append(f"| **total** | | | | **{total[0]:,}** | **{total[1]:,}** |")
    return "\n".join(rows)


def _gzip_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9, mtime=0))


if __name__ == "__main__":
    if sys.argv[1:] == ["--sizes"]:
        print(size_table())
    elif sys.argv[1:]:
        sys.exit("usage: python -m sitegen.site_libraries [--sizes]")
    else:
        try:
            copied = copy_libraries()
        except LibraryError as error:
            sys.exit(f"error: {error}")
        print(f"copied {len(copied)} libraries into runtime/{VENDOR}/")
