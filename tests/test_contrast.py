"""WCAG AA contrast of the themes' text colours, and `--colors` that would break it refused."""

import pytest
from click.testing import CliRunner

from sitegen.__main__ import cli
from sitegen.commands.build import build
from sitegen.config import THEME_TEXT_PAIRS, BuildConfig
from sitegen.contrast import check_text_contrast, contrast_ratio
from sitegen.errors import SitegenError
from sitegen.site import available_themes, theme_schemes


def test_contrast_ratio_matches_wcag_examples():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.005)  # the classic near miss
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.005)
    assert contrast_ratio("#ffffff", "#ffff00") == contrast_ratio("#ffff00", "#ffffff") == pytest.approx(1.07, abs=0.005)


@pytest.mark.parametrize("theme", available_themes())
def test_every_shipped_theme_passes_in_every_scheme(theme):
    schemes = theme_schemes(theme)
    assert schemes and all(len(colours) >= 10 for colours in schemes.values())
    check_text_contrast(schemes, THEME_TEXT_PAIRS, overridden=set())


def test_default_theme_has_both_schemes_and_overrides_apply_to_both():
    schemes = theme_schemes("default", (("accent", "#AA3300"),))
    assert set(schemes) == {"light", "dark"} and schemes["light"]["bg"] != schemes["dark"]["bg"]
    assert schemes["light"]["accent"] == schemes["dark"]["accent"] == "#aa3300"
    assert set(theme_schemes("slate")) == {"dark"}


def test_a_yellow_accent_is_refused_with_the_measured_ratio():
    with pytest.raises(SitegenError) as caught:
        build(BuildConfig(model="never-read", colors=(("accent", "#ffff00"),)), log=lambda *_: None)
    assert str(caught.value) == (
        "--colors: accent #ffff00 on bg #ffffff has contrast 1.07:1 in the light scheme; text needs at least "
        "4.5:1 (WCAG AA). Choose a darker accent or another bg.")


@pytest.mark.parametrize("colors, message", [
    # Getting lighter cannot help: white on that accent is 2.4:1 at best; the advice says darker.
    ((("accent_fg", "#aaaaaa"),), "accent_fg #aaaaaa on accent #5fb3a1 has contrast 1.06:1; text needs at least "
                                  "4.5:1 (WCAG AA). Choose a darker accent_fg or another accent."),
    ((("muted", "#5a6a7a"),), "muted #5a6a7a on bg #1e2530 has contrast 2.77:1; text needs at least 4.5:1 "
                              "(WCAG AA). Choose a lighter muted or another bg."),
    # fg on the new bg passes (7.5:1); muted, the next pair on it, does not.
    ((("bg", "#3a4555"),), "muted #98a4b3 on bg #3a4555 has contrast 3.83:1; text needs at least 4.5:1 "
                           "(WCAG AA). Choose a darker bg or another muted."),
])
def test_overrides_that_fail_name_the_pair_ratio_and_fix(colors, message):
    with pytest.raises(SitegenError) as caught:
        check_text_contrast(theme_schemes("slate", colors), THEME_TEXT_PAIRS, overridden={k for k, _ in colors})
    assert str(caught.value) == f"--colors: {message}"


def test_a_failing_ratio_is_never_shown_rounded_up_to_a_pass():
    # #777777 on white is 4.478:1: shown truncated, "4.47" (so 4.4999 can never read as "4.50").
    with pytest.raises(SitegenError, match=r"has contrast 4\.47:1"):
        check_text_contrast({"light": {"fg": "#777777", "bg": "#ffffff"}}, [("fg", "bg")], {"fg"})


def test_cli_refuses_bad_colours_on_one_line_before_reading_the_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["build", "-m", "no-such-model", "--colors", "accent=#ffff00"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: --colors: accent #ffff00 on bg #ffffff has contrast 1.07:1")
