"""The models the runtime's kernels can run, checked at build time.

The rules and features live in kernels/limits.json, which the runtime reads too, so build and
runtime refuse the same models. Each rule names a `quantity` (an `Architecture` field, or a
product of fields written `a * b`) and constrains it with any of `min`, `max` and `multiple_of`,
with a `why` that names the kernel needing it. Each feature entry names an `Architecture` feature
(sitegen/arch.py's FEATURES), the values the runtime `runs` (a list, or "any" for a feature the
kernels take as a parameter), and `why`.
"""

import dataclasses
import functools
import json
import math

from sitegen.arch import FEATURES, Architecture
from sitegen.assets import asset_dir
from sitegen.errors import SitegenError

FILE = "limits.json"
# What a rule may say; the runtime (runtime/limits.js) refuses any other key too, so a rule
# of a new kind fails here, at build time, rather than in every visitor's browser.
RULE_KEYS = {"quantity", "why", "min", "max", "multiple_of"}
FEATURE_KEYS = {"feature", "runs", "why"}
# Quantities name manifest fields only: the runtime reads them from the manifest's architecture.
_FIELDS = {f.name for f in dataclasses.fields(Architecture)}


def _file() -> dict:
    return json.loads((asset_dir("kernels") / FILE).read_text(encoding="utf-8"))


@functools.cache
def rules() -> tuple[dict, ...]:
    """The rules of kernels/limits.json, in file order. Raises ValueError (a broken sitegen
    installation, not a user's problem) for a rule key or quantity field the runtime would not read."""
    found = tuple(_file()["rules"])
    for rule in found:
        names = {name.strip() for name in rule["quantity"].split("*")}
        if set(rule) - RULE_KEYS or names - _FIELDS:
            raise ValueError(f"kernels/{FILE}: the rule on {rule['quantity']} has unknown keys "
                             f"{sorted(set(rule) - RULE_KEYS)} or fields {sorted(names - _FIELDS)}")
    return found


@functools.cache
def features() -> tuple[dict, ...]:
    """The feature entries of kernels/limits.json, in file order. Raises ValueError (a broken
    installation) unless they name every feature of sitegen/arch.py once, with known keys."""
    found = tuple(_file()["features"])
    names = [entry["feature"] for entry in found]
    unknown = [entry["feature"] for entry in found if set(entry) != FEATURE_KEYS]
    if unknown or sorted(names) != sorted(FEATURES):
        raise ValueError(f"kernels/{FILE}: features {sorted(names)} (keys wrong in {unknown}) "
                         f"are not sitegen's {sorted(FEATURES)}")
    return found


def quantity(arch: Architecture, expression: str) -> int:
    """The value of a rule's quantity: an Architecture field, or a product `a * b` of fields."""
    return math.prod(getattr(arch, name.strip()) for name in expression.split("*"))


def _requirement(rule: dict) -> str:
    """What a rule asks, in words: "a multiple of 4 from 16 to 256", "a multiple of 32", ..."""
    words = []
    if "multiple_of" in rule:
        words.append(f"a multiple of {rule['multiple_of']}")
    low, high = rule.get("min"), rule.get("max")
    if low is not None and high is not None:
        words.append(f"from {low} to {high}")
    elif low is not None:
        words.append(f"at least {low}")
    elif high is not None:
        words.append(f"at most {high}")
    return " ".join(words)


def _breaks(rule: dict, value: int) -> bool:
    return bool(("multiple_of" in rule and value % rule["multiple_of"])
                or ("min" in rule and value < rule["min"])
                or ("max" in rule and value > rule["max"]))


def check_limits(arch: Architecture) -> None:
    """Raise SitegenError if the runtime cannot run a model of this shape: one line naming each
    broken rule's quantity, its value, the rule and why the kernels need it, then each feature
    whose value the runtime does not run, with the values it runs and why."""
    problems = []
    for rule in rules():
        value = quantity(arch, rule["quantity"])
        if _breaks(rule, value):
            problems.append(f"{rule['quantity']} is {value}, but the kernels need {_requirement(rule)} ({rule['why']})")
    for entry in features():
        value = arch.to_manifest()[entry["feature"]]  # as the runtime reads it: JSON values
        if entry["runs"] != "any" and value not in entry["runs"]:
            runs = " or ".join(json.dumps(v) for v in entry["runs"])
            problems.append(f"{entry['feature']} is {json.dumps(value)}, but the kernels run only {runs} ({entry['why']})")
    if problems:
        raise SitegenError(f"sitegen's runtime cannot run this model: {'; '.join(problems)}. "
                           "Choose a model of another shape.")
