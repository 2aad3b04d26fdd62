"""The model shapes the runtime's kernels can run, checked at build time.

The rules live in kernels/limits.json, which the runtime reads too, so build and runtime refuse
the same models. Each rule names a `quantity` (an `Architecture` field, or a product of fields
written `a * b`) and constrains it with any of `power_of_two` (true), `min`, `max` and
`multiple_of`, with a `why` that names the kernel needing it.
"""

import dataclasses
import functools
import json
import math

from sitegen.arch import Architecture
from sitegen.assets import asset_dir
from sitegen.errors import SitegenError

FILE = "limits.json"
# What a rule may say; the runtime (runtime/webgpu/limits.js) refuses any other key too, so a rule
# of a new kind fails here, at build time, rather than in every visitor's browser.
RULE_KEYS = {"quantity", "why", "power_of_two", "min", "max", "multiple_of"}
# Quantities name manifest fields only: the runtime reads them from the manifest's architecture.
_FIELDS = {f.name for f in dataclasses.fields(Architecture)}


@functools.cache
def rules() -> tuple[dict, ...]:
    """The rules of kernels/limits.json, in file order. Raises ValueError (a broken sitegen
    installation, not a user's problem) for a rule key or quantity field the runtime would not read."""
    found = tuple(json.loads((asset_dir("kernels") / FILE).read_text(encoding="utf-8"))["rules"])
    for rule in found:
        names = {name.strip() for name in rule["quantity"].split("*")}
        if set(rule) - RULE_KEYS or names - _FIELDS:
            raise ValueError(f"kernels/{FILE}: the rule on {rule['quantity']} has unknown keys "
                             f"{sorted(set(rule) - RULE_KEYS)} or fields {sorted(names - _FIELDS)}")
    return found


def quantity(arch: Architecture, expression: str) -> int:
    """The value of a rule's quantity: an Architecture field, or a product `a * b` of fields."""
    return math.prod(getattr(arch, name.strip()) for name in expression.split("*"))


def _requirement(rule: dict) -> str:
    """What a rule asks, in words: "a power of two from 16 to 256", "a multiple of 32", ..."""
    words = []
    if rule.get("power_of_two"):
        words.append("a power of two")
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
    return bool((rule.get("power_of_two") and (value < 1 or value & (value - 1)))
                or ("multiple_of" in rule and value % rule["multiple_of"])
                or ("min" in rule and value < rule["min"])
                or ("max" in rule and value > rule["max"]))


def check_limits(arch: Architecture) -> None:
    """Raise SitegenError if the runtime cannot run a model of this shape: one line naming each
    broken rule's quantity, its value, the rule and why the kernels need it."""
    problems = []
    for rule in rules():
        value = quantity(arch, rule["quantity"])
        if _breaks(rule, value):
            problems.append(f"{rule['quantity']} is {value}, but the kernels need {_requirement(rule)} ({rule['why']})")
    if problems:
        raise SitegenError(f"sitegen's runtime cannot run this model: {'; '.join(problems)}. "
                           "Choose a model of another shape.")
