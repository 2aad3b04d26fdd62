"""WCAG 2.x contrast of the site's text colours: `--colors` that make text hard to read are refused.

The formulas are WCAG 2.2's (https://www.w3.org/TR/WCAG22/#dfn-relative-luminance and
#dfn-contrast-ratio): each sRGB channel c in [0, 1] is linearised as c / 12.92 when c <= 0.04045,
else ((c + 0.055) / 1.055) ** 2.4; relative luminance L = 0.2126 R + 0.7152 G + 0.0722 B; the
contrast ratio of two colours is (L_lighter + 0.05) / (L_darker + 0.05), from 1:1 to 21:1.
Success criterion 1.4.3 (level AA) asks 4.5:1 for text (3:1 for large text; the site's text is
body-sized, so 4.5:1 throughout).
"""

from sitegen.errors import SitegenError

AA_TEXT = 4.5


def relative_luminance(colour: str) -> float:
    """WCAG relative luminance of "#rrggbb", from 0 (black) to 1 (white)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two "#rrggbb" colours, from 1.0 to 21.0 (the order does not matter)."""
    lighter, darker = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def check_text_contrast(schemes: dict[str, dict[str, str]], pairs, overridden: set[str]) -> None:
    """Raise SitegenError (one line) for the first text colour too close to its background.

    `schemes`: {scheme name ("light", "dark"): {theme colour name: "#rrggbb"}}, the theme after
    the --colors overrides; `pairs`: (text colour, background colour) names to check;
    `overridden`: the colour names --colors set, which the fix advises changing first.
    """
    for scheme, colours in schemes.items():
        for text, background in pairs:
            ratio = contrast_ratio(colours[text], colours[background])
            if ratio >= AA_TEXT:  # unrounded: WCAG counts 4.499:1 as failing 4.5:1
                continue
            where = f" in the {scheme} scheme" if len(schemes) > 1 else ""
            raise SitegenError(
                f"--colors: {text} {colours[text]} on {background} {colours[background]} has contrast "
                f"{_truncate(ratio)}:1{where}; text needs at least {AA_TEXT}:1 (WCAG AA). "
                f"{_advice(text, background, colours, overridden)}")


def _truncate(ratio: float) -> str:
    # Down, never up: a failing 4.499 must not be shown as the passing "4.50".
    return f"{int(ratio * 100) / 100:.2f}"


def _advice(text: str, background: str, colours: dict[str, str], overridden: set[str]) -> str:
    """"Choose a darker accent or another accent_fg.": which way the overridden colour can go.

    Away from the other colour where black or white there would reach AA, else the other way
    (#aaaaaa text on a #5fb3a1 accent cannot reach 4.5:1 by getting lighter, only darker). One
    way always can: darker for an other colour of luminance >= 0.175, lighter for one <= 0.183.
    """
    change, other = (text, background) if text in overridden and background not in overridden else (background, text)
    own, fixed = relative_luminance(colours[change]), relative_luminance(colours[other])
    darker_can = (fixed + 0.05) / 0.05 >= AA_TEXT  # black against the other colour
    lighter_can = 1.05 / (fixed + 0.05) >= AA_TEXT  # white against it
    # Away from the other colour when that can reach AA, else towards (and past) it.
    darker = darker_can if own <= fixed else not lighter_can
    return f"Choose a {'darker' if darker else 'lighter'} {change} or another {other}."
