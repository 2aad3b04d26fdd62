from pathlib import Path

import pytest

from sitegen.config import BuildConfig, load_build_config
from sitegen.errors import SitegenError

NO_FLAGS = {"model": None, "out": None, "quant": None, "shard_mb": None, "theme": None, "title": None,
            "description": None, "starter_prompts": (), "chat_template": None, "weights_url": None, "colors": ()}


def test_file_values_with_flags_overriding(tmp_path):
    config_file = tmp_path / "site.yml"
    config_file.write_text("model: smollm2-135m\nshard-mb: 16\ntitle: From file\nstarter_prompts: [Hi, Hello]\n")
    config = load_build_config(config_file, dict(NO_FLAGS, title="From flag"))
    assert config == BuildConfig(model="smollm2-135m", shard_mb=16, title="From flag", starter_prompts=("Hi", "Hello"))


def test_default_file_is_read_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("sitegen.yml").write_text("model: tinyllama\nquant: f16\n")
    assert load_build_config(None, NO_FLAGS) == BuildConfig(model="tinyllama", quant="f16")


@pytest.mark.parametrize("text, message", [
    ("model: x\nshardmb: 3\n", "unknown option.*shardmb.*known: model"),
    ("model: x\nshard_mb: 500\n", r"site.yml: shard_mb must be a whole number of MiB from 1 to 95"),
    ("model: x\nquant: q8\n", "quant must be one of q4g32, f16, got 'q8'"),
    ("model: x\ntheme: neon\n", "unknown theme 'neon'; available: default"),
    ("model: x\nstarter_prompts: Hi\n", "starter_prompts must be a list of strings"),
    ("model: x\nchat_template: nope.jinja\n", "chat template file nope.jinja does not exist"),
    ("- just\n- a list\n", "must be a mapping"),
    ("model: [unclosed\n", "not valid YAML"),
    ("title: no model\n", "No model given"),
    ("model: x\nweights_url: http://example.org/w/\n", "weights_url must be an https:// URL"),
    ("model: x\nweights_url: ftp://example.org/w/\n", "weights_url must be an https:// URL"),
    ("model: x\nweights_url: https://example.org/w/?a=1\n", "without \\?query or #fragment"),
    ("model: x\ncolors: {accent: red}\n", "accent must be a #rrggbb colour"),
    ("model: x\ncolors: {acent: '#aabbcc'}\n", "unknown colour 'acent'; the themes' colours are bg, fg"),
    ("model: x\ncolors: '#aabbcc'\n", "colors must be a mapping"),
])
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    config_file = tmp_path / "site.yml"
    config_file.write_text(text)
    with pytest.raises(SitegenError, match=message):
        load_build_config(config_file, NO_FLAGS)


def test_bad_flag_is_reported_as_the_flag():
    with pytest.raises(SitegenError, match="--shard-mb must be"):
        load_build_config(None, dict(NO_FLAGS, model="x", shard_mb=0))


def test_missing_config_file():
    with pytest.raises(SitegenError, match="Config file nowhere.yml does not exist"):
        load_build_config(Path("nowhere.yml"), NO_FLAGS)


def test_weights_url_and_colours_from_file_and_flags(tmp_path):
    config_file = tmp_path / "site.yml"
    config_file.write_text("model: x\nweights_url: https://huggingface.co/me/w/resolve/main\n"
                           "colors: {accent: '#AA3300', user-bubble: '#eeeeee'}\n")
    config = load_build_config(config_file, NO_FLAGS)
    assert config.weights_url == "https://huggingface.co/me/w/resolve/main/"  # a folder: trailing slash added
    assert config.colors == (("accent", "#aa3300"), ("user_bubble", "#eeeeee"))
    flagged = load_build_config(config_file, dict(NO_FLAGS, colors=("bg=#000000",),
                                                  weights_url="http://127.0.0.1:9000/w/"))
    assert flagged.colors == (("bg", "#000000"),) and flagged.weights_url == "http://127.0.0.1:9000/w/"
    with pytest.raises(SitegenError, match="--colors takes NAME=#rrggbb, got 'accent'"):
        load_build_config(config_file, dict(NO_FLAGS, colors=("accent",)))
