"""Where the site's asset folders (templates, runtime, kernels, themes) are on disk.

In a source checkout (and an editable install) they sit at the repository top level, beside the
`sitegen` package; in an installed wheel they are package data inside `sitegen/`.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sitegen asset folder {name!r} is missing from the installation")
