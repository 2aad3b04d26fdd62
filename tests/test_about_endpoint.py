"""The About page's description of the site's OpenAI endpoint (templates/about.html) against what
the endpoint does (runtime/openai_endpoint.js, runtime/request.js, runtime/engine_host.js): the
fields and forms it takes or refuses, HEAD, and how several models share GPU memory."""

import re

from tests.test_site import build, site_files, two_model_site


def api_section(about: str) -> str:
    """The text of the endpoint's section, tags and line breaks dropped."""
    section = about[about.index('id="api-heading"'):about.index('id="libraries-heading"')]
    return " ".join(re.sub(r"<[^>]+>", "", section).split())


def test_the_fields_include_suffix_refused_and_every_response_format(tmp_path):
    text = api_section(site_files(build(tmp_path / "site"))["about.html"].decode())
    assert "while suffix is refused (the model completes the prompt at its end)" in text
    for form in ('{"type": "text"}', '{"type": "json_object"}', '{"type": "json_schema", "json_schema": {...}}',
                 '{"type": "grammar", "grammar": "..."}'):
        assert form in text.replace("&#34;", '"'), form
    assert "HEAD answers as GET, without a body" in text
    assert "An aborted request gets no answer" in text  # no made-up 499


def test_several_models_stay_loaded_while_they_fit(tmp_path):
    text = api_section(two_model_site(tmp_path / "site")["about.html"].decode())
    assert "keeps several models in GPU memory while they fit" in text
    assert "one model at a time" not in text.replace("gets one model at a time", "")
    assert "unloads the one used least recently" in text
