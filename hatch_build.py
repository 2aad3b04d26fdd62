"""Wheel build hook: the site's npm libraries into runtime/vendor/ before the wheel takes runtime/.

runtime/vendor/ is gitignored (DESIGN.md "Dependencies": never committed), so a wheel built from a
checkout gets it here, from node_modules/ as `npm ci` left it (sitegen/site_libraries.py, loaded by
path: the build environment does not have sitegen's own dependencies).
"""

import importlib.util
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SiteLibrariesHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if version == "editable":
            # An editable install reads runtime/ from the checkout, where `make` copies the
            # libraries after `npm ci`; a fresh checkout installs before it has node_modules/.
            return
        root = Path(self.root)
        spec = importlib.util.spec_from_file_location("site_libraries", root / "sitegen" / "site_libraries.py")
        libraries = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = libraries  # dataclasses look their module up there
        spec.loader.exec_module(libraries)
        try:
            libraries.copy_libraries(root / "node_modules", root / "runtime")
        except libraries.LibraryError as error:
            raise RuntimeError(f"sitegen's wheel needs the site's npm libraries: {error}") from None
