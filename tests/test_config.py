import codecs
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen import artifact
from sitegen.__main__ import cli
from sitegen.config import MAX_SHARD_MB, OPTIONS, BuildConfig, ModelEntry, config_schema, load_build_config, read_user_text
from sitegen.errors import SitegenError

NO_FLAGS = dict.fromkeys(OPTIONS)


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
    ("model:\n", "No model given"),  # an empty key is the default, and model has none
    ("model: x\nshard-mb: 3\nshard_mb: 4\n", "site.yml: shard-mb and shard_mb are the same option, set twice; keep one"),
    ("model: x\nshardmb:\n", "unknown option.*shardmb"),  # empty, yet still a typo
    ("model: x\nweights_url: http://example.org/w/\n", "weights_url must be an https:// URL"),
    ("model: x\nweights_url: ftp://example.org/w/\n", "weights_url must be an https:// URL"),
    ("model: x\nweights_url: https://example.org/w/?a=1\n", "without \\?query or #fragment"),
    ("model: x\nweights_url: https:///w/\n", "weights_url has no host name \\(after https://\\), got 'https:///w/'"),
    ("model: x\nweights_url: 'https://[::1/w/'\n", "weights_url is not a valid URL"),
    ("model: x\ncolors: {accent: red}\n", "accent must be a #rrggbb colour"),
    ("model: x\ncolors: {acent: '#aabbcc'}\n", "unknown colour 'acent'; the themes' colours are bg, fg"),
    ("model: x\ncolors: '#aabbcc'\n", "colors must be a mapping"),
    ("models: []\n", r"models is an empty list; give at least one model"),
    ("models: [x, {model: y, quant: q8}]\n", r"models\[1\].quant must be one of q4g32, f16, got 'q8'"),
    ("models: [x, {name: Y}]\n", r"models\[1\] has no `model:` key"),
    ("models: [x, {model: y, size: 3}]\n", r"models\[1\]: unknown key\(s\) size; a model takes model, quant, name"),
    ("models: [x, {model: y, name: ' '}]\n", r"models\[1\].name must be a non-empty string"),
    ("models: [x, 3]\n", r"models\[1\] must be a non-empty string, got 3"),
])
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    config_file = tmp_path / "site.yml"
    config_file.write_text(text)
    with pytest.raises(SitegenError, match=message) as caught:
        load_build_config(config_file, NO_FLAGS)
    assert "\n" not in str(caught.value)


def test_empty_keys_are_the_defaults(tmp_path):
    config_file = tmp_path / "site.yml"
    config_file.write_text("model: x\nout:\nshard-mb:\ntheme:\ntitle:\nstarter_prompts:\ncolors:\nweights_url:\n")
    assert load_build_config(config_file, NO_FLAGS) == BuildConfig(model="x")
    # A flag still fills an empty key.
    assert load_build_config(config_file, dict(NO_FLAGS, shard_mb="8")) == BuildConfig(model="x", shard_mb=8)


def test_bad_flag_is_reported_as_the_flag():
    with pytest.raises(SitegenError, match="--shard-mb must be"):
        load_build_config(None, dict(NO_FLAGS, models=("x",), shard_mb=0))


def test_missing_config_file():
    with pytest.raises(SitegenError, match="Config file nowhere.yml does not exist"):
        load_build_config(Path("nowhere.yml"), NO_FLAGS)


def test_a_device_given_as_the_file_is_called_not_a_regular_file():
    # /dev/null exists: "does not exist" would send the user looking for a missing file.
    with pytest.raises(SitegenError, match="Config file /dev/null is not a regular file .*give the path of a YAML file"):
        load_build_config(Path("/dev/null"), NO_FLAGS)


def test_a_folder_given_as_a_file_is_called_a_folder(tmp_path):
    with pytest.raises(SitegenError, match=f"Config file {tmp_path} is a folder; give the path of the file itself, "
                                           f"e.g. {tmp_path / 'sitegen.yml'}"):
        load_build_config(tmp_path, NO_FLAGS)
    with pytest.raises(SitegenError, match=f"--chat-template: chat template file {tmp_path} is a folder; give the "
                                           "path of the file itself"):
        load_build_config(None, dict(NO_FLAGS, models=("x",), chat_template=str(tmp_path)))
    with pytest.raises(SitegenError, match=f"{tmp_path} is a folder"):
        read_user_text(tmp_path)


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


# --- encodings: what Windows editors and PowerShell write ---------------------------------------

ACCENTED = 'model: x\r\ntitle: "Café chat"\r\nstarter_prompts: ["Grüß dich", "日本語で"]\r\n'


@pytest.mark.parametrize("encode", [
    lambda text: text.encode("utf-8"),
    lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),  # PowerShell 5's `>`
    lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
], ids=["utf-8", "utf-8 BOM", "utf-16-le BOM", "utf-16-be BOM"])
def test_utf8_and_utf16_with_bom_are_read(tmp_path, encode):
    config_file = tmp_path / "sitegen.yml"
    config_file.write_bytes(encode(ACCENTED))
    config = load_build_config(config_file, NO_FLAGS)
    assert (config.models, config.title, config.starter_prompts) == ((ModelEntry("x"),), "Café chat", ("Grüß dich", "日本語で"))
    # Any user's text file (a chat template) is read the same way, line ends made "\n" as read_text does.
    assert read_user_text(config_file) == ACCENTED.replace("\r\n", "\n")


@pytest.mark.parametrize("data, message", [
    ('model: x\ntitle: "Café chat"\n'.encode("cp1252"),
     r"is not valid UTF-8 text: byte 0xe9 on line 2 cannot be decoded \(saved in a legacy encoding such as cp1252\?\); "
     "save it as UTF-8"),
    (b"model: x\n\ntitle: \x81\x8d\n", "is not valid UTF-8 text: byte 0x81 on line 3"),
    (codecs.BOM_UTF16_LE + "model: x\n".encode("utf-16-le") + b"\x00", "is not valid UTF-16-LE text: byte 0x00 on line 2"),
    (codecs.BOM_UTF16_BE + b"\xdc\x00", "is not valid UTF-16-BE text: byte 0xdc on line 1"),
    ("model: x\n".encode("utf-16-le"), "contains NUL bytes, as UTF-16 text without a byte order mark does; save it as UTF-8"),
], ids=["cp1252", "undecodable", "utf-16 odd length", "utf-16 lone surrogate", "utf-16 without BOM"])
def test_other_encodings_are_a_one_line_error_naming_the_file(tmp_path, data, message):
    config_file = tmp_path / "sitegen.yml"
    config_file.write_bytes(data)
    with pytest.raises(SitegenError, match=message) as caught:
        load_build_config(config_file, NO_FLAGS)
    assert str(caught.value).startswith(f"{config_file} ") and "\n" not in str(caught.value)
    with pytest.raises(SitegenError, match=message):
        read_user_text(config_file)


@pytest.mark.parametrize("text, where", [
    ("model: [unclosed\n", "expected ',' or ']', but got '<stream end>' (line 2, column 1)"),
    ("model: x\n\ttitle: y\n", "found character '\\t' that cannot start any token (line 2, column 1)"),
    ("model: x\ntitle: a\x01\n", "character #x0001 is not allowed (line 2, column 9)"),
])
def test_yaml_errors_are_one_line_with_line_and_column(tmp_path, text, where):
    config_file = tmp_path / "sitegen.yml"
    config_file.write_text(text)
    with pytest.raises(SitegenError) as caught:
        load_build_config(config_file, NO_FLAGS)
    message = str(caught.value)
    assert message.startswith(f"{config_file} is not valid YAML: ") and message.endswith(f"{where}.")
    assert "\n" not in message


# --- one declaration: BuildConfig's fields make the flags, the file's keys and the schema -------


def test_every_field_is_an_option_of_the_cli_the_file_and_the_schema():
    names = [f.name for f in fields(BuildConfig)]
    assert list(OPTIONS) == names
    build_command = cli.commands["build"]
    assert [p.name for p in build_command.params if p.name not in ("config_file", "help")] == names
    properties = config_schema()["properties"]
    assert [key for key in properties if "$ref" not in properties[key]] == names
    for name in names:
        if "_" in name:  # `shard-mb:` is read like `shard_mb:`
            assert properties[name.replace("_", "-")] == {"$ref": f"#/properties/{name}"}


def test_help_shows_every_option_with_its_declared_default():
    result = CliRunner().invoke(cli, ["build", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for opt in OPTIONS.values():
        assert opt.flag in text and opt.help in text
        if opt.shown_default is not None:
            assert f"{opt.help} [default: {opt.shown_default}]" in text
    assert "-o, --out PATH Output folder for the site. [default: site]" in text
    assert ("--shard-mb INTEGER Largest shard file, in MiB (1 MiB = 1,048,576 bytes), from 1 to 95. [default: 32]"
            in text)
    assert '[default: ["Explain what a GPU does, in two sentences.", ' in text
    assert "-q, --quant [q4g32|f16]" in text and "--theme [default|slate]" in text


def test_shard_mb_counts_mib_in_the_code_the_help_and_the_readme():
    """README.md says sizes are shown in decimal MB; --shard-mb alone takes MiB, as the shards are cut and as
    GitHub's 100 MiB file limit counts: the help and README's Using it say so, with the range."""
    assert artifact.MIB == 2**20 and MAX_SHARD_MB == 95
    assert "in MiB (1 MiB = 1,048,576 bytes), from 1 to 95." in OPTIONS["shard_mb"].help
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    (entry,) = re.findall(r"`--shard-mb N` \(([^()]*)\)", readme)
    assert "in MiB, 1 MiB = 1,048,576 bytes" in entry and "from 1 to 95" in entry and "100 MiB" in entry
    assert not re.search(r"\bMB\b", entry)
    assert "(`--shard-mb` alone is given in MiB)" in readme


def test_schema_has_each_options_check_and_default():
    schema = config_schema()
    assert schema["additionalProperties"] is False and "required" not in schema  # model may be a flag
    properties = schema["properties"]
    assert properties["shard_mb"] == {"type": ["integer", "null"], "minimum": 1, "maximum": 95,
                                      "description": "Largest shard file, in MiB (1 MiB = 1,048,576 bytes), from 1 "
                                                     "to 95.", "default": 32}
    assert properties["quant"]["enum"] == ["q4g32", "f16", None]
    assert properties["theme"]["enum"] == ["default", "slate", None]
    assert properties["out"]["default"] == "site" and properties["title"]["default"] == "Chat with {model_id}"
    assert properties["starter_prompts"]["default"] == list(BuildConfig(model="x").starter_prompts)
    assert "default" not in properties["models"] and "default" not in properties["weights_url"]
    assert properties["model"] == {"$ref": "#/properties/models"}  # the flag's spelling: one model
    assert "accent" in properties["colors"]["propertyNames"]["enum"]
    assert "user-bubble" in properties["colors"]["propertyNames"]["enum"]
    json.dumps(schema)  # plain JSON data


def test_schema_accepts_an_empty_key_where_the_loader_takes_the_default():
    properties = config_schema()["properties"]
    assert "null" not in json.dumps(properties["models"])  # no default: an empty `models:` is refused
    for name, opt in OPTIONS.items():
        if name != "models":  # every other option has a default, which an empty key stands for
            schema = properties[name]
            assert "null" in schema.get("type", []) or None in schema.get("enum", []), name


def test_schema_describes_colors_as_the_file_holds_them():
    description = config_schema()["properties"]["colors"]["description"]
    assert "mapping" in description and "accent=" not in description and "repeatable" not in description
    assert OPTIONS["colors"].help in CliRunner().invoke(cli, ["build", "--help"], terminal_width=200).output


def test_schema_command_prints_the_schema():
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0 and json.loads(result.output) == config_schema()


def test_direct_construction_gets_the_declared_defaults():
    config = BuildConfig(model="m")
    assert config.models == (ModelEntry("m"),)
    assert {name: getattr(config, name) for name in OPTIONS if name != "models"} == {
        name: opt.default for name, opt in OPTIONS.items() if name != "models"}
    assert (config.out, config.quant, config.shard_mb, config.theme) == (Path("site"), "q4g32", 32, "default")


def test_cli_flags_win_over_the_file(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr("sitegen.commands.build.build", built.append)
    config_file = tmp_path / "site.yml"
    config_file.write_text("model: from-file\ntitle: From file\nshard-mb: 16\ntheme: slate\n"
                           "starter_prompts: [File prompt]\ncolors: {accent: '#111111'}\n")
    result = CliRunner().invoke(cli, [
        "build", "-f", str(config_file), "-m", "from-flag", "-o", str(tmp_path / "out"), "-q", "f16",
        "--title", "From flag", "--starter-prompt", "One", "--starter-prompt", "Two", "--colors", "bg=#000000",
        "--weights-url", "https://example.org/w"])
    assert result.exit_code == 0, result.output
    assert built == [BuildConfig(model="from-flag", out=tmp_path / "out", quant="f16", shard_mb=16, theme="slate",
                                 title="From flag", starter_prompts=("One", "Two"), colors=(("bg", "#000000"),),
                                 weights_url="https://example.org/w/")]


def test_cli_reports_a_bad_flag_by_its_name_on_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["build", "-m", "x", "--starter-prompt", " "])
    assert result.exit_code == 1
    assert result.output == "Error: --starter-prompt[0] must be a non-empty string, got ' '.\n"


CNAME_RULE = ("must be a bare domain name such as example.org or www.example.org "
              "(letters, digits, hyphens and dots; no https://, path or port)")
SHARD_RANGE = "must be a whole number of MiB from 1 to 95 (GitHub refuses files over 100 MiB)"
PLACEHOLDERS = ("The placeholders are {model_id} (the model's id; on a site of several models, their names); "
                "write {{ or }} for a brace shown as it is.")


@pytest.mark.parametrize("args, message", [
    (["--theme", "nope"], "--theme: unknown theme 'nope'; available: default, slate."),
    (["-q", "x"], "--quant must be one of q4g32, f16, got 'x'."),
    (["--shard-mb", "x"], f"--shard-mb {SHARD_RANGE}, got 'x'."),
    (["--shard-mb", "1.5"], f"--shard-mb {SHARD_RANGE}, got '1.5'."),
    (["--shard-mb", "0"], f"--shard-mb {SHARD_RANGE}, got 0."),
    (["--shard-mb", "-3"], f"--shard-mb {SHARD_RANGE}, got -3."),
    (["-o", ""], "--out must be a non-empty string, got ''."),
    (["--title", "{modle}"], f"--title has an unknown placeholder {{modle}}. {PLACEHOLDERS}"),
    (["--title", "Ask {model}"], f"--title has an unknown placeholder {{model}}. {PLACEHOLDERS}"),
    (["--title", "{model_id!r}"], f"--title has an unknown placeholder {{model_id!r}}. {PLACEHOLDERS}"),
    (["--title", "{}"], f"--title has an unknown placeholder {{}}. {PLACEHOLDERS}"),
    (["--title", "Chat with {model_id"], f"--title has a '{{' that is never closed ('{{model_id'). {PLACEHOLDERS}"),
    (["--title", "Chat with model_id}"],
     f"--title has a '}}' that no '{{' opens ('Chat with model_id}}'). {PLACEHOLDERS}"),
    (["--description", "{model_id} {{x}"],
     f"--description has a '}}' that no '{{' opens ('{{model_id}} {{{{x}}'). {PLACEHOLDERS}"),
    (["--chat-template", "nope.jinja"], "--chat-template: chat template file nope.jinja does not exist."),
    (["--weights-url", "https:///a"], "--weights-url has no host name (after https://), got 'https:///a'. "
                                      "Example: https://huggingface.co/<user>/<repo>/resolve/main/"),
    (["--colors", "accent"], "--colors takes NAME=#rrggbb, got 'accent'."),
    *[(["--cname", bad], f"--cname {CNAME_RULE}, got {bad!r}.")
      for bad in ("https://example.org", "example.org/blog", "example.org:8080", "localhost", "-x.org",
                  "ex ample.org", "example.org.", "a_b.org", "x" * 64 + ".org")],
    (["--cname", "1.2.3.4"], "--cname must be a domain name, not an IP address ('1.2.3.4'): GitHub Pages serves "
                             "custom domains only."),
    (["--cname", "bücher.example"], "--cname 'bücher.example' must be written in its ASCII (punycode) form: "
                                    "xn--bcher-kva.example."),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_every_bad_flag_value_is_one_line_naming_the_flag(args, message, tmp_path, monkeypatch):
    """Flags reach click as text and go through the same checks as the file's values: no usage error."""
    monkeypatch.chdir(tmp_path)  # no ./sitegen.yml
    result = CliRunner().invoke(cli, ["build", "-m", "x", *args])
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"


def test_number_flags_are_read_from_their_text(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr("sitegen.commands.build.build", built.append)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["build", "-m", "x", "--shard-mb", " 16", "--theme", "slate"])
    assert result.exit_code == 0, result.output
    assert built == [BuildConfig(model="x", shard_mb=16, theme="slate")]
    # A value from the file is not flag text: a quoted number there is refused, as before.
    config_file = tmp_path / "site.yml"
    config_file.write_text("model: x\nshard_mb: '16'\n")
    with pytest.raises(SitegenError, match=re.escape(f"site.yml: shard_mb {SHARD_RANGE}, got '16'.")):
        load_build_config(config_file, NO_FLAGS)


def test_choice_flags_complete_their_values():
    assert OPTIONS["theme"].kind.complete("s") == ["slate"]
    assert OPTIONS["quant"].kind.complete("") == ["q4g32", "f16"]


@pytest.mark.parametrize("given, held", [("example.org", "example.org"), ("WWW.Example.ORG ", "www.example.org"),
                                         ("my-site.github.io", "my-site.github.io"), ("a.b.c.d.e", "a.b.c.d.e")])
def test_cname_takes_a_bare_host_name_from_file_or_flag(given, held, tmp_path):
    (tmp_path / "site.yml").write_text(f"model: x\ncname: '{given}'\n")
    assert load_build_config(tmp_path / "site.yml", NO_FLAGS).cname == held
    assert load_build_config(None, {**NO_FLAGS, "models": ("x",), "cname": given}).cname == held
    assert re.fullmatch(config_schema()["properties"]["cname"]["pattern"], given)


# --- several models ----------------------------------------------------------------------------


def test_models_list_with_quant_and_name_per_model(tmp_path):
    config_file = tmp_path / "site.yml"
    config_file.write_text("models:\n- smollm2-135m\n- {model: ./tiny, quant: f16, name: Tiny one}\nquant: q4g32\n")
    config = load_build_config(config_file, NO_FLAGS)
    assert config.models == (ModelEntry("smollm2-135m"), ModelEntry("./tiny", quant="f16", name="Tiny one"))
    assert config.quant == "q4g32"  # the models without their own quant


def test_model_key_is_the_flags_spelling_of_models(tmp_path):
    config_file = tmp_path / "site.yml"
    config_file.write_text("model: {model: x, name: X}\n")
    assert load_build_config(config_file, NO_FLAGS).models == (ModelEntry("x", name="X"),)
    config_file.write_text("model: x\nmodels: [y]\n")
    with pytest.raises(SitegenError, match="model and models are the same option, set twice"):
        load_build_config(config_file, NO_FLAGS)


def test_repeated_model_flags_make_a_site_of_several_models(monkeypatch):
    built = []
    monkeypatch.setattr("sitegen.commands.build.build", built.append)
    result = CliRunner().invoke(cli, ["build", "--model", "a", "-m", "b"])
    assert result.exit_code == 0, result.output
    assert [entry.model for entry in built[0].models] == ["a", "b"]
