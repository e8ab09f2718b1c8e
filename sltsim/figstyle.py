"""One figure style for every study: drawn at the size it is printed.

A figure is made at a real page width (``SINGLE_COLUMN`` = 3.3 in, ``DOUBLE_COLUMN``
= 7 in), so that its 8 pt text stays 8 pt in the paper. Series get a colour from the
Okabe-Ito palette *and* a marker, so they stay apart in greyscale and for readers
with a colour-vision deficiency. Multi-panel figures carry panel letters, and every
reference line (chance, ``d = k``, zero) carries a label.

The palette is the eight colours of M. Okabe and K. Ito, "Color Universal Design
(CUD): how to make figures and presentations that are friendly to colorblind
people" (2008), as recommended by B. Wong, "Points of view: Color blindness",
Nature Methods 8, 441 (2011). Its yellow is left out of the series colours: on white
it is too light for lines.

Use::

    fig, axes = figstyle.subplots(1, 3, width=figstyle.DOUBLE_COLUMN)
    ax.errorbar(x, y, yerr=e, label="EP", **figstyle.series(0))
    figstyle.reference_line(ax, y=0.1, label="chance (10 classes)")
    figstyle.finish(fig)        # drops empty panels, adds panel letters
    save_figure(fig, path)

``problems(fig)`` lists what breaks the style (used by the tests on every figure).
"""

from __future__ import annotations

import string

SINGLE_COLUMN = 3.3  # in, one column of a two-column paper
DOUBLE_COLUMN = 7.0  # in, the full text width
MIN_FONT_PT = 8.0

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
#: series colours in order of use (yellow left out: too light on white)
PALETTE = tuple(OKABE_ITO[name] for name in
                ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "black"))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", "-.", ":")
#: colour of reference lines (chance, d = k, zero): neutral, never a series colour
REFERENCE_COLOUR = "#666666"

RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "legend.title_fontsize": 8,
    "figure.titlesize": 9, "figure.labelsize": 8,
    "axes.prop_cycle": None,  # filled in below
    "lines.linewidth": 1.2, "lines.markersize": 4, "errorbar.capsize": 2,
    "axes.linewidth": 0.6, "grid.linewidth": 0.4, "grid.alpha": 0.4,
    "legend.frameon": False, "legend.handlelength": 2.2,
    "savefig.dpi": 300, "figure.dpi": 100,
}


def use() -> None:
    """Apply the style to matplotlib's global rcParams (every later artist takes it)."""
    import matplotlib
    from cycler import cycler

    rc = dict(RC)
    rc["axes.prop_cycle"] = cycler(color=list(PALETTE))
    matplotlib.rcParams.update(rc)


def series(i: int, *, line: bool = True) -> dict:
    """Colour, marker (and line style if ``line``) of the ``i``-th series, as plot keywords.

    Colour and marker both change with ``i``, so no two of the first ``len(PALETTE)``
    series share either.
    """
    style = {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}
    if line:
        style["linestyle"] = LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)]
    return style


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = DOUBLE_COLUMN,
             height: float | None = None, **kwargs):
    """``plt.subplots`` at a real page width, in the style, with a constrained layout.

    Parameters
    ----------
    nrows, ncols : int
        Grid of panels.
    width : float
        Figure width in inches: ``SINGLE_COLUMN`` or ``DOUBLE_COLUMN``.
    height : float, optional
        Figure height in inches; default 2.4 in per row (plus room for a legend below).
    **kwargs
        Passed to ``plt.subplots`` (``sharey``, ``squeeze``, ...).
    """
    import matplotlib.pyplot as plt

    if width not in (SINGLE_COLUMN, DOUBLE_COLUMN):
        raise ValueError(f"width must be SINGLE_COLUMN ({SINGLE_COLUMN}) or DOUBLE_COLUMN "
                         f"({DOUBLE_COLUMN}) inches, got {width!r}")
    use()
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height or 2.4 * nrows + 0.4), **kwargs)


def reference_line(ax, *, label: str, x: float | None = None, y: float | None = None,
                   xy: tuple | None = None, **kwargs):
    """A labelled reference line: horizontal at ``y``, vertical at ``x``, or through the
    data points ``xy = (xs, ys)``. The label goes to the legend."""
    if sum(v is not None for v in (x, y, xy)) != 1:
        raise ValueError("give exactly one of x, y, xy")
    style = {"color": REFERENCE_COLOUR, "linestyle": (0, (4, 2)), "linewidth": 0.9, "zorder": 0.5}
    style.update(kwargs)
    if y is not None:
        return ax.axhline(y, label=label, **style)
    if x is not None:
        return ax.axvline(x, label=label, **style)
    return ax.plot(*xy, label=label, **style)[0]


def _has_data(ax) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images or ax.containers)


def legend_below(fig, axes, ncol: int = 3, **kwargs):
    """One legend below the panels with every distinct label of ``axes`` (in order)."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol, **kwargs)


def legend_panel(ax, handles, labels, **kwargs):
    """Turn a spare grid cell ``ax`` into the figure's legend (not a panel: never lettered)."""
    ax.axis("off")
    ax.set_label("<legend>")
    return ax.legend(handles, labels, loc="center", **kwargs)


def finish(fig, *, letters: bool = True):
    """Remove panels that show nothing and letter the rest a, b, c, ... (when more than one).

    The letter (bold) starts the panel's title, which moves to the left so that the
    two never overlap. Colour bars are not panels: they are neither removed nor lettered.
    """
    panels = [ax for ax in fig.axes if not _is_colorbar(ax)]
    for ax in panels:
        if not _has_data(ax):
            ax.remove()
    panels = [ax for ax in panels if _has_data(ax)]
    if letters and len(panels) > 1:
        for letter, ax in zip(string.ascii_lowercase, panels):
            title = ax.get_title()
            ax.set_title("")
            ax.set_title(f"$\\mathbf{{{letter}}}$  {title}".rstrip(), loc="left")
    return fig


def panel_letter(ax) -> str:
    """The letter ``finish`` gave ``ax`` ('' if none)."""
    title = ax.get_title(loc="left")
    return title[len("$\\mathbf{"):][0] if title.startswith("$\\mathbf{") else ""


def _is_colorbar(ax) -> bool:
    """A colour bar or a legend cell: part of a figure, not a panel."""
    return getattr(ax, "_colorbar", None) is not None or ax.get_label() in ("<colorbar>", "<legend>")


def problems(fig) -> list[str]:
    """What in ``fig`` breaks the style: width, text under ``MIN_FONT_PT``, an empty panel,
    missing panel letters, an unlabelled horizontal or vertical reference line."""
    from matplotlib.text import Text

    found = []
    width = fig.get_figwidth()
    if not any(abs(width - w) < 1e-6 for w in (SINGLE_COLUMN, DOUBLE_COLUMN)):
        found.append(f"width {width:.2f} in is neither {SINGLE_COLUMN} nor {DOUBLE_COLUMN}")
    fig.canvas.draw()  # materialise tick labels
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT_PT - 1e-9:
            found.append(f"text {text.get_text()[:30]!r} at {text.get_fontsize():g} pt")
    panels = [ax for ax in fig.axes if not _is_colorbar(ax)]
    for ax in panels:
        if not _has_data(ax):
            found.append(f"empty panel {ax.get_title()!r}")
        for line in ax.lines:
            if line.get_transform() is not ax.transData and line.get_label().startswith("_"):
                found.append(f"unlabelled reference line in panel {ax.get_title()!r}")
    if len(panels) > 1:
        letters = [panel_letter(ax) for ax in panels]

        if letters != list(string.ascii_lowercase[:len(panels)]):
            found.append(f"panel letters {letters}, expected a, b, ...")
    return found
