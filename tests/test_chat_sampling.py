"""The chat page's sampling settings for models that ship none (sitegen/chat_sampling.py)."""

import pytest

from sitegen import sources
from sitegen.aliases import aliases
from sitegen.chat_sampling import CHAT_FALLBACK, chat_sampling, check_published
from sitegen.errors import SitegenError


def test_a_model_with_its_own_temperature_or_top_p_needs_none():
    assert chat_sampling({"temperature": 0.6, "top_p": 0.9}, {"temperature": 0.2, "top_p": 0.9}) is None
    assert chat_sampling({"top_p": 0.8}, None) is None


def test_published_values_win_over_the_fallback():
    assert chat_sampling({}, {"temperature": 0.2, "top_p": 0.9}) == {"temperature": 0.2, "top_p": 0.9,
                                                                      "source": "model card"}
    # top_k or a repetition penalty alone leave temperature and top_p to the chat defaults
    assert chat_sampling({"top_k": 20}, None) == {**CHAT_FALLBACK, "source": "sitegen"}


def test_the_demo_alias_carries_smollm2s_published_values():
    # SmolLM2's model card samples with temperature=0.2, top_p=0.9.
    assert sources.resolve("smollm2-135m").chat_sampling == {"temperature": 0.2, "top_p": 0.9}
    assert all(alias.chat_sampling is None or set(alias.chat_sampling) == {"temperature", "top_p"}
               for alias in aliases().values())


@pytest.mark.parametrize(("values", "message"), [
    ({"temperature": 0.2}, "must set exactly temperature and top_p"),
    ({"temperature": 0.2, "top_p": 0.9, "top_k": 4}, "must set exactly temperature and top_p"),
    ({"temperature": 3, "top_p": 0.9}, "temperature must be a number from 0 to 2, not 3"),
    ({"temperature": 0.2, "top_p": 0}, "top_p must be a number greater than 0 and at most 1, not 0"),
    ({"temperature": "0.2", "top_p": 0.9}, "temperature must be a number from 0 to 2, not '0.2'"),
    ({"temperature": True, "top_p": 0.9}, "temperature must be a number from 0 to 2, not True"),
    ("hot", "must set exactly temperature and top_p"),
])
def test_bad_published_values_are_refused_naming_the_entry(values, message):
    with pytest.raises(SitegenError, match="^models.yml x: chat_sampling .*") as error:
        check_published(values, "models.yml x")
    assert message in str(error.value) and "\n" not in str(error.value)
