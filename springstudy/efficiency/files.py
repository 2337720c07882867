"""The benchmark's files: the efficiency CSVs, Table 11 and its two figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from springstudy.efficiency.benchmark import EfficiencyResult, _model_order
from springstudy.efficiency.settings import DEFAULTS
from springstudy.efficiency.table11 import THESIS_TABLE11, _rate_tag, table11, table11_markdown


# --------------------------------------------------------------------------------------------
# Figures and files


def plot_rtf_vs_block(rows: Any, threads: int = 1) -> Any:
    """Streaming RTF against block size (log-log), one line per model, one panel per rate."""
    import matplotlib.pyplot as plt

    stream = rows[(rows["mode"] == "streaming") & (rows.threads == threads)]
    rates = sorted(stream.sample_rate.unique(), reverse=True)
    fig, axes = plt.subplots(1, len(rates), figsize=(6.0 * len(rates), 4.5), squeeze=False, sharey=True)
    for ax, rate in zip(axes[0], rates):
        at = stream[stream.sample_rate == rate]
        for i, name in enumerate(sorted(at.model.unique(), key=_model_order)):
            m = at[at.model == name].sort_values("block")
            line, = ax.plot(m.block, m.rtf, marker="o", ms=3, label=name, color=f"C{i % 10}",
                            ls="-" if i < 10 else "--")
            ax.axhline(m.rtf_bound.iloc[0], color=line.get_color(), lw=0.6, ls=":")
        ax.axhline(1.0, color="k", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        sizes = sorted(at.block.unique())
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("block (samples)")
        ax.set_title(f"{rate // 1000} kHz, {threads} thread(s); dotted: FLOP bound")
        ax.grid(alpha=0.3, which="both")
        secondary = ax.secondary_xaxis("top", functions=(lambda b, r=rate: 1000 * b / r,
                                                         lambda ms, r=rate: ms * r / 1000))
        secondary.set_xticks([1000 * b / rate for b in sizes], [f"{1000 * b / rate:.3g}" for b in sizes])
        secondary.set_xticks([], minor=True)
        secondary.set_xlabel("latency (ms)")
    axes[0][0].set_ylabel("RTF (time / audio duration)")
    axes[0][-1].legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    return fig


def plot_rtf_vs_params(rows: Any, block: int = DEFAULTS.table_block) -> Any:
    """RTF against parameters: offline (1 thread), streaming at ``block``, the thesis's RTF."""
    import matplotlib.pyplot as plt

    thesis = {r.model: r for r in THESIS_TABLE11}
    rates = sorted(rows.sample_rate.unique(), reverse=True)
    fig, axes = plt.subplots(1, len(rates), figsize=(6.0 * len(rates), 4.5), squeeze=False, sharey=True)
    for ax, rate in zip(axes[0], rates):
        at = rows[(rows.sample_rate == rate) & (rows.threads == 1) & rows.rtf.notna()]
        offline = at[at["mode"] == "offline"]
        stream = at[(at["mode"] == "streaming") & (at.block == block)]
        ax.scatter(offline.params, offline.rtf, marker="s", label="ours, offline (1 thread)")
        ax.scatter(stream.params, stream.rtf, marker="o", label=f"ours, streaming {block} (1 thread)")
        t = [(thesis[m].params, getattr(thesis[m], f"rtf_{_rate_tag(int(rate))}")) for m in at.model.unique()
             if m in thesis and getattr(thesis[m], f"rtf_{_rate_tag(int(rate))}") is not None]
        if t:
            ax.scatter(*zip(*t), marker="x", color="k", label="thesis Table 11")
        for r in stream.itertuples(index=False):
            ax.annotate(r.model, (r.params, r.rtf), fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.axhline(1.0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_title(f"{rate // 1000} kHz")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("RTF")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


#: Files :func:`write_efficiency` writes (stems under the tables folder, PNGs under figures).
TABLE_FILES = {"rows": "efficiency.csv", "details": "efficiency_details.csv",
               "memory": "efficiency_memory.csv", "info": "efficiency_run.json",
               "table_csv": "table11_efficiency.csv", "table_md": "table11_efficiency.md"}
FIGURE_FILES = {"block": "efficiency_rtf_vs_block.png", "params": "efficiency_rtf_vs_params.png"}


def write_efficiency(result: EfficiencyResult, tables_dir: str | Path,
                     figures_dir: str | Path | None = None) -> dict[str, Path]:
    """Write efficiency.csv, its details, memory and run record, Table 11 (CSV, Markdown) and
    the two figures (atomically). Returns the paths written."""
    from springstudy.outputs import write_bytes_atomic, write_csv_atomic, write_json_atomic

    tables_dir = Path(tables_dir)
    written: dict[str, Path] = {}

    def csv(frame: Any, key: str) -> None:
        path = tables_dir / TABLE_FILES[key]
        write_csv_atomic(path, frame)
        written[key] = path

    csv(result.rows, "rows")
    csv(result.details, "details")
    csv(result.memory, "memory")
    write_json_atomic(tables_dir / TABLE_FILES["info"], result.info)
    written["info"] = tables_dir / TABLE_FILES["info"]
    table = table11(result.rows, details=result.details)
    csv(table, "table_csv")
    write_bytes_atomic(tables_dir / TABLE_FILES["table_md"],
                       table11_markdown(table, result.info, memory=result.memory).encode())
    written["table_md"] = tables_dir / TABLE_FILES["table_md"]
    if figures_dir is not None:
        import matplotlib.pyplot as plt

        from springstudy.outputs import save_figure

        for key, plot in (("block", plot_rtf_vs_block), ("params", plot_rtf_vs_params)):
            fig = plot(result.rows)
            written[key] = save_figure(fig, Path(figures_dir) / FIGURE_FILES[key])
            plt.close(fig)
    return written
