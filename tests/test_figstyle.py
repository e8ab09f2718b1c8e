"""The shared figure style: its checker catches what it should, and the palette is what it says."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from sltsim import figstyle  # noqa: E402


def _srgb_to_linear(c):
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def test_palette_is_okabe_ito_and_series_differ_in_colour_and_marker():
    from matplotlib.colors import to_rgb

    # the published values (Okabe & Ito 2008), as 0-255 RGB
    published = {"black": (0, 0, 0), "orange": (230, 159, 0), "sky_blue": (86, 180, 233),
                 "bluish_green": (0, 158, 115), "yellow": (240, 228, 66), "blue": (0, 114, 178),
                 "vermillion": (213, 94, 0), "reddish_purple": (204, 121, 167)}
    for name, rgb in published.items():
        assert tuple(round(255 * c) for c in to_rgb(figstyle.OKABE_ITO[name])) == rgb, name
    n = len(figstyle.PALETTE)
    styles = [figstyle.series(i) for i in range(n)]
    assert len({s["color"] for s in styles}) == n
    assert len({s["marker"] for s in styles}) == n
    assert figstyle.OKABE_ITO["yellow"] not in figstyle.PALETTE
    # a series after the palette wraps differs from the first in its line style
    assert figstyle.series(n)["linestyle"] != figstyle.series(0)["linestyle"]


def test_series_colours_are_visible_on_white():
    """Every series colour reaches a WCAG contrast ratio of 2:1 against white (yellow does not)."""
    from matplotlib.colors import to_rgb

    def contrast(colour):
        r, g, b = (_srgb_to_linear(c) for c in to_rgb(colour))
        lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return 1.05 / (lum + 0.05)

    assert all(contrast(c) >= 2.0 for c in figstyle.PALETTE), [round(contrast(c), 2) for c in figstyle.PALETTE]
    assert contrast(figstyle.OKABE_ITO["yellow"]) < 2.0


def test_problems_flags_screen_width_small_text_empty_panel_and_unlabelled_reference():
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    axes[0].plot([0, 1], [0, 1])
    axes[0].legend(["x"], fontsize=6)
    axes[1].axhline(0.5)
    found = figstyle.problems(fig)
    plt.close(fig)
    assert any("width 12.00" in p for p in found)
    assert any("at 6 pt" in p for p in found)
    assert any("empty panel" in p for p in found)
    assert any("unlabelled reference line" in p for p in found)
    assert any("panel letters" in p for p in found)


def test_a_figure_made_with_the_style_passes_and_finish_drops_the_empty_panel():
    fig, axes = figstyle.subplots(2, 2, width=figstyle.DOUBLE_COLUMN)
    for i, ax in enumerate(axes.flat[:3]):
        ax.errorbar([1, 2, 3], [i, i + 1, i + 3], yerr=[0.1] * 3, label=f"series {i}", **figstyle.series(i))
        figstyle.reference_line(ax, y=1.0, label="reference")
        ax.set(xlabel="x (unit)", ylabel="y (unit)", title=f"panel {i}")
    axes[0, 0].legend()
    figstyle.finish(fig)
    found = figstyle.problems(fig)
    letters = [figstyle.panel_letter(ax) for ax in fig.axes]
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    plt.close(fig)
    assert found == []
    assert letters == ["a", "b", "c"]
    assert titles[1] == "$\\mathbf{b}$  panel 1"  # the letter starts the panel's own title



def test_finish_leaves_colour_bars_alone():
    fig, axes = figstyle.subplots(1, 2, width=figstyle.DOUBLE_COLUMN)
    for ax in axes:
        image = ax.imshow([[0, 1], [1, 0]])
        fig.colorbar(image, ax=ax)
    figstyle.finish(fig)
    assert len(fig.axes) == 4
    assert figstyle.problems(fig) == []
    plt.close(fig)


def test_subplots_refuses_a_screen_width_and_reference_line_needs_one_position():
    with pytest.raises(ValueError, match="width must be"):
        figstyle.subplots(1, 1, width=10.5)
    fig, ax = figstyle.subplots(1, 1, width=figstyle.SINGLE_COLUMN)
    with pytest.raises(ValueError, match="exactly one"):
        figstyle.reference_line(ax, x=1, y=1, label="both")
    plt.close(fig)


def test_every_study_figure_follows_the_style(tmp_path, monkeypatch, computed_stores):
    """Draw every registered figure from the committed records (computed for the studies whose
    records are not kept in git) and check each against the style."""
    import sys
    from pathlib import Path

    from sltsim import figures

    records = Path(__file__).resolve().parents[1] / "studies" / "records"
    figures.import_studies()
    original = figures.save_figure
    found = {}

    def checked(fig, path, formats=("png",)):
        found[Path(path).name] = figstyle.problems(fig)
        return original(fig, path, formats=("png",))

    for name, module in list(sys.modules.items()):
        if name.startswith("sltsim.studies.") and getattr(module, "save_figure", None) is original:
            monkeypatch.setattr(module, "save_figure", checked)
    drawn = {}
    from tests.studies.test_study_outputs import COMPUTED

    for study, draw in figures.FIGURES.items():
        if study in COMPUTED:
            computed_stores(study)
            drawn[study] = draw(computed_stores.root, tmp_path)
        elif figures.records_path(records, study).is_file():
            drawn[study] = draw(records, tmp_path)
    assert drawn and all(drawn.values()), {s: len(p) for s, p in drawn.items()}  # each study drew a figure
    assert sum(len(p) for p in drawn.values()) == len(found)  # every figure went through the check
    assert {name: p for name, p in found.items() if p} == {}
