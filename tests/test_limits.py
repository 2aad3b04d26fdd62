"""The runtime's limits (kernels/limits.json) at build time: a model at each limit builds, one past
any rule is refused before conversion with a one-line error. (The runtime's side of the same
file is tested in tests/js.)"""

import json
import os
import re
import subprocess
import sys

import pytest

from sitegen.arch import FEATURES, Architecture, architecture
from sitegen.commands.build import build
from sitegen.config import BuildConfig
from sitegen import limits
from sitegen.errors import SitegenError
from sitegen.limits import check_limits, features, quantity, rules
from tests.tiny_models import SHAPES, write_tiny_model


def quiet_build(**options):
    return build(BuildConfig(**options), log=lambda *_: None)


def _smallest_allowed(rule: dict) -> int:
    step = rule.get("multiple_of", 1)
    return -(-rule.get("min", step) // step) * step


def test_the_limit_models_sit_on_the_edges():
    low, high = (architecture(dict(SHAPES[name], vocab_size=1)) for name in ("limit-low", "limit-high"))
    for rule in rules():
        assert quantity(low, rule["quantity"]) == _smallest_allowed(rule)
        if "max" in rule:
            assert quantity(high, rule["quantity"]) == rule["max"]
    check_limits(low)
    check_limits(high)


# head sizes that are not powers of two: the tiny phi3-head24's 24, Phi-3.5-mini's 96 (3072 / 32), 80
@pytest.mark.parametrize("config", [SHAPES["phi3-head24"],
                                    dict(SHAPES["llama"], hidden_size=3072, num_attention_heads=32, head_dim=96),
                                    dict(SHAPES["llama"], num_attention_heads=16, head_dim=80)], ids=["24", "96", "80"])
def test_head_sizes_that_are_multiples_of_4_run(config):
    arch = architecture(dict(config, vocab_size=1))
    assert arch.head_dim & (arch.head_dim - 1)
    check_limits(arch)


@pytest.mark.parametrize("fixture", ["tiny_limit_low", "tiny_limit_high"])
def test_models_at_the_limits_build(fixture, request, tmp_path):
    folder, weights = request.getfixturevalue(fixture)
    manifest = quiet_build(model=str(folder), out=tmp_path / "site")
    assert set(manifest["tensors"]) == set(weights)


# (config.json overrides of the tiny llama: 4 heads of 16, hidden 64, ffn 128) -> the rule broken
PAST_THE_LIMITS = [
    ({"head_dim": 18, "num_attention_heads": 16}, "head_dim is 18, but the kernels need a multiple of 4 from 16 to 256"),
    ({"head_dim": 8}, "head_dim is 8, but the kernels need a multiple of 4 from 16 to 256"),
    ({"head_dim": 512}, "head_dim is 512, but the kernels need a multiple of 4 from 16 to 256"),
    ({"hidden_size": 48}, "hidden_size is 48, but the kernels need a multiple of 32"),
    ({"intermediate_size": 40}, "ffn_size is 40, but the kernels need a multiple of 32"),
    ({"num_attention_heads": 3, "num_key_value_heads": 1}, "num_heads * head_dim is 48, but the kernels need a multiple of 32"),
]

# (config.json overrides of the tiny llama) -> the feature the runtime does not run yet
FEATURES_NOT_RUN = [
    ({"hidden_act": "gelu"}, 'hidden_activation is "gelu", but the kernels run only "silu" or "gelu_pytorch_tanh"'),
]


# A shape past a rule, or a feature value the kernels do not run: one line naming it, no site left.
@pytest.mark.parametrize("overrides, problem", PAST_THE_LIMITS + FEATURES_NOT_RUN,
                         ids=[p.split(",")[0] for _, p in PAST_THE_LIMITS] + [p.split(" ")[0] for _, p in FEATURES_NOT_RUN])
def test_a_model_past_a_limit_or_with_a_feature_not_run_is_refused_at_build_time(overrides, problem, tmp_path):
    write_tiny_model(tmp_path / "model", "llama", **overrides)
    with pytest.raises(SitegenError) as refused:
        quiet_build(model=str(tmp_path / "model"), out=tmp_path / "site")
    message = str(refused.value)
    assert "\n" not in message
    assert re.fullmatch(rf"sitegen's runtime cannot run this model: {re.escape(problem)} \(.+\)\. "
                        r"Choose a model of another shape\.", message)
    assert not (tmp_path / "site").exists()


def test_the_refusal_is_one_line_on_the_command_line(tmp_path):
    write_tiny_model(tmp_path / "model", "qwen2", head_dim=18, num_attention_heads=16)
    result = subprocess.run([sys.executable, "-m", "sitegen", "build", "--model", str(tmp_path / "model"),
                             "--out", str(tmp_path / "site")], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "head_dim" in line]
    assert len(lines) == 1 and "attention.wgsl" in lines[0] and "multiple of 4 from 16 to 256" in lines[0]


def test_every_broken_rule_is_named_in_the_one_line():
    config = dict(SHAPES["llama"], vocab_size=1, hidden_size=48, intermediate_size=40)
    with pytest.raises(SitegenError) as refused:
        check_limits(architecture(config))
    message = str(refused.value)
    assert "\n" not in message
    assert re.findall(r"(\w+) is (\d+), but", message) == [("hidden_size", "48"), ("ffn_size", "40")]


def test_the_rules_name_architecture_fields():
    arch = architecture(dict(SHAPES["llama"], vocab_size=1))
    for rule in rules():
        assert quantity(arch, rule["quantity"]) > 0 and rule["why"]
        assert set(rule) <= {"quantity", "min", "max", "multiple_of", "why"}


def test_a_rule_the_runtime_would_not_read_breaks_the_installation_not_a_build(tmp_path, monkeypatch):
    # runtime/limits.js refuses unknown keys and non-manifest fields: so must the build
    for rule in ({"quantity": "head_dim", "divides": 256, "why": "x"}, {"quantity": "q_size", "min": 1, "why": "x"}):
        (tmp_path / "limits.json").write_text(json.dumps({"rules": [rule]}), encoding="utf-8")
        monkeypatch.setattr(limits, "asset_dir", lambda name: tmp_path)
        rules.cache_clear()
        try:
            with pytest.raises(ValueError, match=r"kernels/limits.json: the rule on \w+ has unknown"):
                rules()
        finally:
            rules.cache_clear()


def test_the_limits_file_says_what_the_runtime_runs_of_every_feature():
    assert sorted(entry["feature"] for entry in features()) == sorted(FEATURES)
    off = Architecture.from_manifest(architecture(dict(SHAPES["llama"], vocab_size=1)).to_manifest()).to_manifest()
    for entry in features():
        # a model without features runs; "any": a feature the kernels take as a parameter
        assert (entry["runs"] == "any" or off[entry["feature"]] in entry["runs"]) and entry["why"]
