"""The file every `sitegen build` writes into its output folders (the site and, with
--weights-url, the weights folder): it marks a folder that a later build may replace, that
`sitegen deploy` may publish and that `sitegen serve` may serve.

It also records the files that build wrote and their SHA-256, so that the next build into the
same folder can tell them from files the owner added or edited there (a CNAME, robots.txt,
404.html, an edited index.html), which it keeps or reports. The record is JSON:
{"built_by": "sitegen", "files": {relative POSIX path: sha256 hex}}, keys sorted. A marker written
before the record existed holds the text "built by sitegen" and records nothing.
"""

import hashlib
import json
from pathlib import Path

MARKER = ".sitegen-site"


def file_digest(path: Path) -> str:
    """The SHA-256 of the file at `path`, hex; raises OSError if it cannot be read."""
    digest = hashlib.sha256()
    with path.open("rb") as file:  # in blocks: shards may be large (hashlib.file_digest needs 3.11)
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_marker(folder: Path, files: set[str]) -> None:
    """Mark `folder` as a sitegen build that wrote `files` (paths relative to `folder`, '/'-separated)."""
    # Sorted, one file a line: the same build gives the same bytes, and a person can read it.
    record = {"built_by": "sitegen", "files": {rel: file_digest(folder / rel) for rel in sorted(files)}}
    (folder / MARKER).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def is_marked(folder: Path) -> bool:
    """Whether `folder` holds a marker that a sitegen build wrote (either form); False when it holds
    none, or a file of that name that says something else, or it cannot be read."""
    try:
        text = (folder / MARKER).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return False
    if text.strip() == "built by sitegen":
        return True
    try:
        record = json.loads(text)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("built_by") == "sitegen"


def recorded_files(folder: Path) -> dict[str, str] | None:
    """{path: sha256 hex} of the files the build that made `folder` wrote, as `write_marker`
    recorded them; None when the marker records none (written by a sitegen from before the
    record, or unreadable)."""
    try:
        record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not all(isinstance(digest, str) for digest in files.values()):
        return None
    return files
