"""One figure per thesis table of ``tables.json`` (the HTML report's figures): our value per system and column as
bars, the published value as a black diamond on the same bar, and for the RMSE-MFCC table (5.3) the reference loss
(doing nothing) as a black line across each task's group of bars.

Only systems with at least one computed cell are drawn (the published-only rows of Tables 3.6/4.2/5.2 stay in the
tables). Rows of the global-SDR convention and the # params / # blocks columns are left out: one metric per axis.
Style, title placement and the metadata-free PNG bytes come from :mod:`benchmark.reporting.plotting` (as the report's).
"""

from __future__ import annotations

import math

from benchmark.reporting.plotting import pristine

#: the row of Table 5.3 drawn as a line: our identity system, the thesis's "reference loss"
REFERENCE = "reference loss"
NOT_PLOTTED = ("# params", "# blocks")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pristine
def plot_table(table: dict, profile: str) -> bytes | None:
    """PNG bytes of ``table`` (one entry of tables.json ``tables``), or None when it has no computed cell."""
    import seaborn as sns

    from benchmark.reporting.plotting import axes, save

    mfcc = table["metric"] == "mfcc_rmse"
    rows = [r for r in table["rows"] if r.get("convention") != "global" and r["column"] not in NOT_PLOTTED
            and not r.get("published_only")]
    group = (lambda r: r["column"])
    groups = list(dict.fromkeys(group(r) for r in rows))
    computed = {r["system"] for r in rows if _finite(r.get("ours")) and not r.get("at_floor")}
    systems = [s for s in dict.fromkeys(r["system"] for r in rows) if s in computed and not (mfcc and s == REFERENCE)]
    if not systems:
        return None
    grid = {(r["system"], group(r)): r for r in rows}
    sns.set_theme(style="whitegrid", context="notebook")
    palette = sns.color_palette("colorblind", len(systems))
    width = 0.8 / len(systems)
    fig, ax = axes((min(16.0, max(8.0, 0.6 * len(groups) + 0.2 * len(groups) * len(systems))), 4.8))
    marked = False
    for i, system in enumerate(systems):
        xs = [g + (i - (len(systems) - 1) / 2) * width for g in range(len(groups))]
        cells = [grid.get((system, name)) or {} for name in groups]
        ours = [c.get("ours") if _finite(c.get("ours")) and not c.get("at_floor") else math.nan for c in cells]
        ax.bar(xs, ours, width=width * 0.95, color=palette[i], label=system)
        paper = [(x, c["paper"]) for x, c in zip(xs, cells) if _finite(c.get("paper"))]
        if paper:
            ax.scatter(*zip(*paper), marker="D", s=18, color="black", zorder=3,
                       label=None if marked else "published (thesis)")
            marked = True
    if mfcc:
        ref = [(g, (grid.get((REFERENCE, name)) or {}).get("ours")) for g, name in enumerate(groups)]
        for n, (g, v) in enumerate((g, v) for g, v in ref if _finite(v)):
            ax.hlines(v, g - 0.45, g + 0.45, colors="black", linewidth=1.5,
                      label="reference loss (ours: identity)" if n == 0 else None)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=45 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center",
                       fontsize=8)
    unit = f" ({table['unit']})" if table.get("unit") else ""
    better = "higher is better" if table["higher_is_better"] else "lower is better"
    ax.legend(fontsize=7, ncol=2 if len(systems) > 6 else 1, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    png = save(fig, ax, f"Table {table['id']}: {table['metric']}{unit}, {better} — ours (bars) vs published "
                         f"(◆), profile {profile}")
    return png  # the seaborn theme ends with the figure (plotting.pristine restores the style)


def table_figures(doc: dict, profile: str) -> dict[str, bytes]:
    """``{"figures/table-<id>.png": bytes}`` for every table of ``doc`` (tables.json) that has a computed cell."""
    out = {}
    for t in doc["tables"]:
        if t["id"] == "other":  # not a thesis table: its published rows are of other data sets (drawn as text only)
            continue
        png = plot_table(t, profile)
        if png is not None:
            out[f"figures/table-{t['id']}.png"] = png
    return out
