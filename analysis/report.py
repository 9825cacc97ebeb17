"""The report of a results folder: ``report.html`` (one self-contained page) and ``report.md``.

``report.html`` needs nothing but itself to be read: figures are PNG data URIs, the style sheet is
inline, there is no script and no link to load anything. It holds what was run (the spec), the
summary table, the figures and the provenance recorded in the manifest. ``report.md`` holds the
same text with the figures linked from ``figures/`` (PNG, with an SVG beside each).

The report owns ``report.html``, ``report.md`` and the figure files it names in ``figures/``:
running it again replaces them (each file atomically) and touches nothing else. It refuses to
replace a ``report.html``/``report.md`` it did not write, or to write into a ``figures/`` folder
holding other files. The output depends only on the results folder and the package versions (no
clock), so the same folder gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .style import shock_phrase
from .tables import AnalysisError, Results, load, write_text_atomic

GENERATOR = "lendsim report"
_MD_MARK = f"<!-- {GENERATOR} -->"
FIGURES_DIR = "figures"
# Every figure name the report can write; only these are replaced or removed in figures/.
FIGURE_NAMES = (
    "fan_overdue",
    "fan_m3plus",
    "fan_credit_supply",
    "fan_new_defaults",
    "forest",
    "main_effects",
    "roll_rates",
    "vintages",
    "sweep_heatmap",
    "sensitivity",
)


@dataclass(frozen=True)
class Report:
    """Files written by :func:`write_report`."""

    html: Path
    markdown: Path
    figures: tuple[Path, ...]


@dataclass(frozen=True)
class _Figure:
    name: str
    title: str
    caption: str
    build: Callable


# --------------------------------------------------------------------------- which figures


def _stress_shock(results: Results) -> str | None:
    """The shock a comparison's per-policy figures show: the first that is not 'none'."""
    if "shock" not in results.cells:
        return None
    shocks = list(dict.fromkeys(results.cells["shock"]))
    return next((s for s in shocks if s != "none"), shocks[0])


def figure_plan(results: Results) -> list[_Figure]:
    """The figures of this folder's report, by kind."""
    from . import figures as f

    figs = []
    rates = {s["key"]: s["is_rate"] for s in results.outcome_specs}
    better = {s["key"]: s.get("better") for s in results.outcome_specs}
    ref = results.reference
    reps = results.replications
    if results.kind == "comparison":
        shock = _stress_shock(results)
        shocks = list(dict.fromkeys(results.cells["shock"]))
        by_shock = len(shocks) > 1

        def one_shock(table: pd.DataFrame) -> pd.DataFrame:
            return table[table["shock"] == shock] if by_shock else table

        # every title names the shock its figure shows (a figure copied into a memo must still say it)
        where = " " + shock_phrase(shock)
        fans = " " + (f"under each shock ({', '.join(shocks)})" if by_shock else shock_phrase(shocks[0]))
        figs += [
            _Figure(
                "fan_overdue",
                f"Overdue rate over time, by policy{fans}",
                f"M1+ overdue rate by balance, month by month after burn-in: median (line) and 5-95% band across "
                f"the {reps} replications of each policy and shock; the dashed line is the median of the reference "
                f"policy '{ref}' under the same shock; grey months are a declared shock.",
                lambda: f.fan_chart(results.model, "overdue_balance_rate", reference=ref),
            ),
            _Figure(
                "fan_m3plus",
                f"90+ rate over time, by policy{fans}",
                "M3+ (more than 90 days overdue) rate by balance, as above.",
                lambda: f.fan_chart(results.model, "m3plus_balance_rate", reference=ref),
            ),
            _Figure(
                "fan_credit_supply",
                f"Credit supply over time, by policy{fans}",
                "Amount originated each month (CNY), as above: where a policy tightens lending, and when.",
                lambda: f.fan_chart(results.model, "origination_amount", reference=ref),
            ),
            _Figure(
                "fan_new_defaults",
                f"New defaults over time, by policy{fans}",
                "Loans reaching 90 days past due each month (a count), as above: when defaults arrive, not only "
                "how many.",
                lambda: f.fan_chart(results.model, "new_defaults", reference=ref),
            ),
            _Figure(
                "forest",
                f"Paired differences to {ref}{fans}",
                f"Each policy minus '{ref}' under the same shock, per outcome: mean over the {reps} paired "
                "replications (common random numbers) and its 95% t-interval; rates in percentage points. "
                "Green is better and vermillion worse in the direction each outcome declares (the panel title "
                "says which); grey, an outcome with no better direction. ▶/◀: above/below the reference; "
                "filled: the interval excludes 0.",
                lambda: f.forest_plot(results.summary, is_rate=rates, better=better),
            ),
            _Figure(
                "roll_rates",
                f"Transitions between delinquency buckets{where}",
                "Monthly transition probabilities pooled over the months after burn-in and the replications "
                "(transitions over loans at risk): roll one bucket forward above the diagonal; on the diagonal "
                "(†) the rest (stays, moves back, cures or is repaid/charged off: the model reports no split); "
                "last row, the cure rate of all overdue loans.",
                lambda: f.roll_rate_heatmap(one_shock(results.model), panel_by="policy"),
            ),
            _Figure(
                "vintages",
                f"Vintage curves{where}",
                "Cumulative default (loans reaching 90+ days) by months on book, for cohorts of loans originated "
                "in the same months after burn-in, pooled over replications; each point averages the same loans.",
                lambda: f.vintage_curves(one_shock(results.vintages), panel_by="policy"),
            ),
        ]
    elif results.kind == "sweep":
        figs += _sweep_figures(results, rates)
    elif results.kind == "run":
        figs += [
            _Figure(
                "fan_overdue",
                "Overdue rate over time",
                "M1+ overdue rate by balance after burn-in (one run).",
                lambda: f.fan_chart(results.model, "overdue_balance_rate", rows=None, cols=None),
            ),
            _Figure(
                "roll_rates",
                "Transitions between delinquency buckets",
                "Monthly transition probabilities pooled over the months after burn-in.",
                lambda: f.roll_rate_heatmap(results.model, panel_by=None),
            ),
            _Figure(
                "vintages",
                "Vintage curves",
                "Cumulative default by months on book, per origination cohort.",
                lambda: f.vintage_curves(results.vintages, panel_by=None),
            ),
        ]
    return figs  # a validation's content is its tables (validation.md), one arm per cell


def _effects(results: Results):
    """Main effects and the variance decomposition of a sweep, computed once per report."""
    from .effects import sweep_effects

    if "effects" not in results._cache:
        results._cache["effects"] = sweep_effects(results)
    return results._cache["effects"]


def _by_level(table: pd.DataFrame, results: Results, parameter: str) -> pd.DataFrame:
    """``table`` with the parameter's column holding its level (a bin of a sampled range), in level order."""
    levels = _effects(results).levels[parameter]
    codes = table["cell"].map(pd.Series(levels.cat.codes, index=levels.index))
    out = table.assign(**{parameter: table["cell"].map(levels.astype(str))})
    return out.iloc[codes.to_numpy().argsort(kind="stable")]


def _sweep_figures(results: Results, rates: dict[str, bool]) -> list[_Figure]:
    """A sweep's figures: main effects, the heatmap, and every time series per cell or per level, never pooled."""
    from . import effects as e
    from . import figures as f

    params = list(results.label_columns)
    reps = results.replications
    result = _effects(results)
    keys = [s["key"] for s in results.outcome_specs]
    ranked = e.ranked_parameters(result, keys[0]) if keys else params
    top = ranked[0] if ranked else params[0]
    levels = result.levels[top].cat.categories
    why = (
        f"the levels of {top}, the parameter whose main effect explains the largest share of {keys[0]}'s variance"
        if len(params) > 1
        else f"the levels of {top}"
    )
    per_cell = len(params) == 2 and e.is_grid(results.cells, params) and len(results.cells) <= 16 and len(ranked) == 2
    figs = [
        _Figure(
            "main_effects",
            "Which parameter matters more: main effects",
            f"Each outcome's mean at each level of each swept parameter, averaged over the other parameters, with "
            f"its 95% t-interval over the {result.replications} complete replications; the panel title gives the "
            "share of the outcome's variance the parameter explains alone (the table above has every part and the "
            "paired contrasts).",
            lambda: e.main_effects_chart(result, is_rate=rates),
        )
    ]
    if per_cell:
        second = ranked[1]
        figs.append(
            _Figure(
                "fan_overdue",
                f"Overdue rate over time, per design point ({top} x {second})",
                f"M1+ overdue rate by balance after burn-in, one panel per design point: median and 5-95% band "
                f"across its {reps} replications; the dashed line is the median at the first level of {top}; "
                "grey months are a declared shock.",
                lambda: f.fan_chart(
                    _by_level(_by_level(results.model, results, second), results, top),
                    "overdue_balance_rate",
                    rows=second,
                    cols=top,
                    reference=str(levels[0]),
                ),
            )
        )
    else:
        figs.append(
            _Figure(
                "fan_overdue",
                f"Overdue rate over time, by level of {top}",
                f"M1+ overdue rate by balance after burn-in, one panel per level: {why}. A panel pools the design "
                f"points at its level (the other parameters vary within it) and their {reps} replications: median "
                "and 5-95% band; the dashed line is the median of the first level.",
                lambda: f.fan_chart(
                    _by_level(results.model, results, top),
                    "overdue_balance_rate",
                    rows=None,
                    cols=top,
                    reference=str(levels[0]),
                ),
            )
        )
    if len(params) >= 2:
        x, y = _heatmap_axes(results)
        chosen = " (the two parameters with the largest indices)" if results.is_sensitivity else ""
        figs.append(
            _Figure(
                "sweep_heatmap",
                f"Outcomes over {x} and {y}",
                f"Mean outcome over the design points and replications in each cell{chosen}; a sampled "
                "range is cut into equal-width bins. Other swept parameters vary within a cell.",
                lambda: f.sweep_heatmap(results.outcomes, x, y, list(rates), is_rate=rates),
            )
        )
    if results.is_sensitivity:
        figs.append(
            _Figure(
                "sensitivity",
                "Sensitivity indices",
                _sensitivity_caption(results),
                lambda: f.sensitivity_chart(_indices(results), is_rate=rates),
            )
        )
    figs += [
        _Figure(
            "roll_rates",
            f"Transitions between delinquency buckets, by level of {top}",
            f"Monthly transition probabilities pooled over the months after burn-in and the runs of each level "
            f"({why}); see the comparison report for how they are built.",
            lambda: f.roll_rate_heatmap(_by_level(results.model, results, top), panel_by=top, max_panels=12),
        ),
        _Figure(
            "vintages",
            f"Vintage curves, by level of {top}",
            f"Cumulative default by months on book, per origination cohort, pooled over the runs of each level "
            f"({why}).",
            lambda: f.vintage_curves(_by_level(results.vintages, results, top), panel_by=top, max_panels=12),
        ),
    ]
    return figs


def _validation_text(results: Results) -> str | None:
    """The fact, target and claim tables of a validation folder (its validation.md)."""
    path = results.path / "validation.md"
    if results.kind != "validation" or not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


def _indices(results: Results) -> pd.DataFrame:
    """The sensitivity indices, computed once per report."""
    from .sensitivity import analyse_results

    if "sensitivity" not in results._cache:
        results._cache["sensitivity"] = analyse_results(results)
    return results._cache["sensitivity"]


def _heatmap_axes(results: Results) -> list[str]:
    """Swept keys for the heatmap: the first two, or for a sensitivity run the two that matter most."""
    params = list(results.label_columns)
    if not results.is_sensitivity:
        return params[:2]
    table = _indices(results)
    first = table[table["order"] == 1]
    column = "ST" if "ST" in first and first["ST"].notna().any() else "mu_star"
    if column == "mu_star":  # Morris effects are in outcome units: rank within each outcome
        first = first.assign(
            mu_star=first.groupby("outcome")["mu_star"].transform(lambda v: v / v.max() if v.max() > 0 else v)
        )
    ranking = first.groupby("parameter", sort=False)[column].mean().sort_values(ascending=False, kind="stable")
    return list(ranking.index[:2])


def _sensitivity_caption(results: Results) -> str:
    spec = results.spec or {}
    if spec.get("method") == "sobol":
        return (
            f"Sobol indices from a Saltelli design of N={spec.get('samples')} base samples, each point the mean "
            f"of {results.replications} replications: S1 is the share of the outcome's variance a parameter "
            "explains alone, ST including its interactions; bars are 95% bootstrap intervals."
        )
    return (
        f"Morris screening with {spec.get('samples')} trajectories, each point the mean of "
        f"{results.replications} replications: mu* (importance) with its 95% bootstrap interval and sigma "
        "(interactions or non-linearity), per full range of a parameter."
    )


# --------------------------------------------------------------------------- writing


def write_report(results_dir: str | Path) -> Report:
    """Write ``report.html``, ``report.md`` and ``figures/*.png|svg`` into a results folder.

    Raises:
        AnalysisError: not a results folder, or a report file that this function did not write
            is in the way.
    """
    from .style import save_figure

    results = load(results_dir)
    folder = results.path
    _check_ours(folder)
    plan = figure_plan(results)
    fig_dir = folder / FIGURES_DIR
    rendered = []
    for item in plan:
        try:
            figure = item.build()
        except (KeyError, ValueError) as err:  # e.g. a table without the columns a figure needs
            raise AnalysisError(f"{folder}: cannot draw {item.name}: {err}") from None
        paths = save_figure(figure, fig_dir / item.name)
        rendered.append((item, paths))
    made = {p.name for _, paths in rendered for p in paths}
    for name in FIGURE_NAMES:  # figures of an earlier report that this one does not draw
        for ext in ("png", "svg"):
            if f"{name}.{ext}" not in made:
                (fig_dir / f"{name}.{ext}").unlink(missing_ok=True)

    sensitivity = _sensitivity_text(results)
    markdown = _markdown(results, rendered, sensitivity)
    page = _html(results, rendered, sensitivity)
    md_path, html_path = folder / "report.md", folder / "report.html"
    write_text_atomic(md_path, markdown)
    write_text_atomic(html_path, page)
    return Report(html_path, md_path, tuple(p for _, paths in rendered for p in paths))


def _check_ours(folder: Path) -> None:
    html_path, md_path, fig_dir = folder / "report.html", folder / "report.md", folder / FIGURES_DIR
    if (
        html_path.exists()
        and f'<meta name="generator" content="{GENERATOR}">'
        not in html_path.read_text(encoding="utf-8", errors="replace")[:2000]
    ):
        raise AnalysisError(f"{html_path} exists and was not written by run.py report; move it away first")
    if md_path.exists() and not md_path.read_text(encoding="utf-8", errors="replace").startswith(_MD_MARK):
        raise AnalysisError(f"{md_path} exists and was not written by run.py report; move it away first")
    if fig_dir.exists():
        if not fig_dir.is_dir():
            raise AnalysisError(f"{fig_dir} exists and is not a folder; move it away first")
        ours = {f"{n}.{e}" for n in FIGURE_NAMES for e in ("png", "svg")}
        others = sorted(p.name for p in fig_dir.iterdir() if p.name not in ours and not p.name.startswith("."))
        if others:
            raise AnalysisError(
                f"{fig_dir} holds files the report did not write ({', '.join(others[:3])}); move them away first"
            )


def _sensitivity_text(results: Results) -> str | None:
    if not results.is_sensitivity:
        return None
    from .sensitivity import indices_markdown, noise_share

    rates = {s["key"]: s["is_rate"] for s in results.outcome_specs}
    text = indices_markdown(_indices(results), rates)
    noise = noise_share(results)
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in noise.items() if math.isfinite(v))
    return (
        text + f"\nReplication noise as a share of the variance of the point means: {shares} "
        "(near 100%: the points differ little beyond noise; add replications).\n"
    )


# --------------------------------------------------------------------------- formatting


def _title(results: Results) -> str:
    kind = {
        "comparison": "Comparison",
        "sweep": "Sensitivity analysis" if results.is_sensitivity else "Sweep",
        "run": "Run",
        "validation": "Validation",
    }[results.kind]
    return f"{kind}: {results.description}" if results.description else f"{kind}: {results.path.name}"


def _meta_line(results: Results) -> str:
    m = results.manifest
    if results.kind == "run":
        return f"one run, seed {m.get('seed')}; created {m.get('created')}"
    runs = m.get("runs") or {}
    plan = m.get("plan") or {}
    return (
        f"{len(results.cells)} cells x {results.replications} replications = {runs.get('total')} runs "
        f"({runs.get('ok')} ok, {len(runs.get('failed') or [])} failed); master seed {plan.get('master_seed')}; "
        f"created {m.get('created')}"
    )


def _value(value, is_rate: bool, diff: bool = False) -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    sign = "+" if diff else ""
    if is_rate:
        return f"{100 * value:{sign}.2f}" + (" pp" if diff else "%")
    if abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    return f"{value:{sign}#.4g}"


def _range(low, high, is_rate: bool, diff: bool = False) -> str:
    if any(v is None or not math.isfinite(v) for v in (low, high)):
        return "n/a"
    return f"[{_value(low, is_rate, diff)}, {_value(high, is_rate, diff)}]"


def summary_rows(results: Results) -> list[tuple[str, list[str], list[list[str]]]]:
    """The summary as (outcome, header, rows of text), formatted as in summary.md."""
    if results.kind == "run":
        return [_run_summary(results)]
    summary = results.summary
    labels = (["cell"] if results.kind == "sweep" else []) + list(results.label_columns)
    header = labels + ["n", "mean", "95% CI"]
    reference = _summary_reference(results)
    comparison = reference is not None
    if comparison:
        header += [f"Δ vs {reference}", "95% CI of Δ"]
    out = []
    for spec in results.outcome_specs:
        rows = []
        for r in summary[summary["outcome"] == spec["key"]].to_dict("records"):
            rate = spec["is_rate"]
            cells = [_label(r.get(c)) for c in labels]
            cells += [str(r["n"]), _value(r["mean"], rate), _range(r["ci_low"], r["ci_high"], rate)]
            if comparison:
                if r.get("policy", r["cell"]) == reference:
                    cells += ["(reference)", ""]
                else:
                    cells += [
                        _value(r["diff_mean"], rate, True),
                        _range(r["diff_ci_low"], r["diff_ci_high"], rate, True),
                    ]
            rows.append(cells)
        out.append((spec["key"], header, rows))
    return out


def _summary_reference(results: Results) -> str | None:
    """What Δ is to: the reference policy of a comparison, the first point of a grid sweep (or None)."""
    if results.kind == "comparison":
        return results.reference
    summary = results.summary
    if results.kind == "sweep" and "diff_mean" in summary and summary["reference"].notna().any():
        return str(summary["reference"].dropna().iloc[0])
    return None


def _effects_text(results: Results) -> str | None:
    """Which parameter matters more, as Markdown (sweeps with runs)."""
    if results.kind != "sweep" or results.outcomes.empty:
        return None
    from .effects import effects_markdown

    rates = {s["key"]: s["is_rate"] for s in results.outcome_specs}
    return effects_markdown(_effects(results), rates)


def _label(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _run_summary(results: Results) -> tuple[str, list[str], list[list[str]]]:
    model = results.model[~results.model["is_burn_in"].astype(bool)]
    rows = []
    for column, stat in (
        ("overdue_balance_rate", "mean"),
        ("overdue_balance_rate", "max"),
        ("m3plus_balance_rate", "max"),
        ("cum_default_rate", "last"),
        ("credit_outstanding", "mean"),
        ("complaints", "sum"),
    ):
        series = model[column]
        value = float(series.iloc[-1] if stat == "last" else getattr(series, stat)())
        rows.append(
            [
                column,
                {"max": "peak", "last": "final", "sum": "total"}.get(stat, stat),
                _value(value, column.endswith("_rate")),
            ]
        )
    return "headline outcomes after burn-in", ["column", "statistic", "value"], rows


def _provenance(results: Results) -> list[tuple[str, str]]:
    m = results.manifest
    git = m.get("git") or {}
    packages = ", ".join(f"{k} {v}" for k, v in sorted((m.get("packages") or {}).items()))
    items = [
        ("kind", str(m.get("kind"))),
        ("spec file", str(m.get("spec_file") or m.get("scenario_file") or "")),
        ("created", str(m.get("created"))),
        ("python", str(m.get("python"))),
        ("platform", str(m.get("platform"))),
        ("packages", packages),
        (
            "git commit",
            f"{git.get('commit')}" + (" (uncommitted changes)" if git.get("dirty") else "") if git else "not recorded",
        ),
    ]
    for session in m.get("resumed") or []:
        items.append(("resumed", f"{session.get('at')} at {((session.get('git') or {}).get('commit') or '?')}"))
    files = m.get("files") or {}
    top = {k: v for k, v in files.items() if "/" not in k}
    items.append(("outputs hashed", f"{len(files)} files (SHA-256 in manifest.json); `run.py reproduce` checks them"))
    items += [(f"sha256 {name}", digest) for name, digest in sorted(top.items())]
    return items


def _spec_yaml(results: Results) -> str:
    data = results.spec if results.spec is not None else results.manifest.get("config")
    data = _without_nulls(data)
    if isinstance(data, dict):  # as a spec file writes them: a bare name, a bare file
        for key, short in (("outcomes", "name"), ("policies", "file"), ("shocks", "file")):
            if isinstance(data.get(key), list):
                data[key] = [_short_item(item, short) for item in data[key]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _short_item(item, key: str):
    """``{name: losses}`` -> ``losses``, ``{file: f}`` -> ``f``, the no-shock ``{name: none}`` -> ``none``."""
    if isinstance(item, dict) and list(item) == [key]:
        return item[key]
    if isinstance(item, dict) and item == {"name": "none"}:
        return "none"
    return item


def _without_nulls(data, key: str | None = None):
    """The spec without keys left unset (``month: null`` on every outcome reads as noise).

    Values a user set stay: a null among ``overrides`` sets a key to null, and a null in a list
    (``values: [null, 0.5]``) is a design point.
    """
    if isinstance(data, dict):
        if key == "overrides":
            return data
        return {k: _without_nulls(v, k) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_nulls(v) for v in data]
    return data


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join(
            "---:" if h in ("n", "value") or "CI" in h or h in ("mean",) or h.startswith("Δ") else "---" for h in header
        )
        + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _markdown(results: Results, rendered, sensitivity: str | None) -> str:
    lines = [_MD_MARK, f"# {_title(results)}", "", _meta_line(results) + ".", ""]
    validation = _validation_text(results)
    if validation:
        lines += ["## Stylized facts, calibration targets, source claims", "", validation.rstrip(), ""]
    lines += ["## Summary", ""]
    if results.kind == "comparison":
        lines += [
            f"Mean and 95% t-interval across replications; Δ is the paired difference to `{results.reference}` "
            "under the same shock (common random numbers); rates in %, differences of rates in pp.",
            "",
        ]
    for outcome, header, rows in summary_rows(results):
        lines += [f"### {outcome}", "", *_md_table(header, rows), ""]
    effects_text = _effects_text(results)
    if effects_text:
        lines += ["## Which parameter matters more", "", effects_text]
    if sensitivity:
        lines += ["## Sensitivity indices", "", sensitivity]
    lines += ["## Figures", ""]
    for item, paths in rendered:
        png = next(p for p in paths if p.suffix == ".png")
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        lines += [
            f"### {item.title}",
            "",
            f"![{item.title}]({FIGURES_DIR}/{png.name})",
            "",
            item.caption + (f" ([SVG]({FIGURES_DIR}/{svg.name}))" if svg else ""),
            "",
        ]
    lines += [
        "## Specification",
        "",
        "```yaml",
        _spec_yaml(results).rstrip(),
        "```",
        "",
        "Every cell's full configuration and every run's seed are in `manifest.json`.",
        "",
        "## Provenance",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in _provenance(results)]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1.5em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin:1.4em 0 .4em}.meta{color:#555}nav a{margin-right:1em}
table{border-collapse:collapse;font-size:.88em;margin:.4em 0 1em}th,td{border:1px solid #ddd;padding:.25em .6em}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.9em;margin-top:.4em}pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.85em}
details summary{cursor:pointer;color:#333}.prov th{width:11em}.prov td{word-break:break-all}
"""


def _html_table(header: list[str], rows: list[list[str]], numeric_from: int) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i >= numeric_from else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(r)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _md_to_html_tables(text: str) -> str:
    """The sensitivity Markdown (### headings, pipe tables, paragraphs) as HTML."""
    out, table = [], []

    def flush():
        if table:
            header = [c.strip() for c in table[0].strip("|").split("|")]
            rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
            out.append(_html_table(header, rows, 1))
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("### "):
            out.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)


def _html(results: Results, rendered, sensitivity: str | None) -> str:
    title = html.escape(_title(results))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        f'<p class="meta">{html.escape(_meta_line(results))}</p>',
        "<nav>"
        + ('<a href="#facts">Facts</a>' if _validation_text(results) else "")
        + '<a href="#summary">Summary</a>'
        + ('<a href="#effects">Which parameter matters</a>' if _effects_text(results) else "")
        + ('<a href="#sensitivity">Sensitivity</a>' if sensitivity else "")
        + '<a href="#figures">Figures</a><a href="#spec">Specification</a><a href="#provenance">Provenance</a></nav>',
    ]
    validation = _validation_text(results)
    if validation:
        parts += [
            '<section id="facts">',
            "<h2>Stylized facts, calibration targets, source claims</h2>",
            _md_to_html_tables(validation),
            "</section>",
        ]
    parts += ['<section id="summary">', "<h2>Summary</h2>"]
    if results.kind == "comparison":
        parts.append(
            f"<p>Mean and 95% t-interval across replications; Δ is the paired difference to "
            f"<code>{html.escape(str(results.reference))}</code> under the same shock (common random numbers); "
            "rates in %, differences of rates in percentage points (pp).</p>"
        )
    n_labels = (1 if results.kind == "sweep" else 0) + len(results.label_columns)
    for outcome, header, rows in summary_rows(results):
        table = _html_table(header, rows, n_labels if results.kind != "run" else 2)
        if len(rows) > 25:
            table = f"<details><summary>{len(rows)} rows</summary>{table}</details>"
        parts += [f'<h3 id="summary-{html.escape(outcome)}">{html.escape(outcome)}</h3>', table]
    parts.append("</section>")
    effects_text = _effects_text(results)
    if effects_text:
        parts += [
            '<section id="effects">',
            "<h2>Which parameter matters more</h2>",
            _md_to_html_tables(effects_text),
            "</section>",
        ]
    if sensitivity:
        parts += [
            '<section id="sensitivity">',
            "<h2>Sensitivity indices</h2>",
            _md_to_html_tables(sensitivity),
            "</section>",
        ]
    parts += ['<section id="figures">', "<h2>Figures</h2>"]
    for item, paths in rendered:
        png = next(p for p in paths if p.suffix == ".png")
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts += [
            f'<figure id="fig-{item.name}">',
            f"<h3>{html.escape(item.title)}</h3>",
            f'<img alt="{html.escape(item.title)}" src="data:image/png;base64,{data}">',
            f"<figcaption>{html.escape(item.caption)}</figcaption>",
            "</figure>",
        ]
    parts += [
        "</section>",
        '<section id="spec">',
        "<h2>Specification</h2>",
        f"<pre>{html.escape(_spec_yaml(results))}</pre>",
        "<p>Every cell's full configuration and every run's seed are in <code>manifest.json</code>.</p>",
        "</section>",
        '<section id="provenance">',
        "<h2>Provenance</h2>",
        '<table class="prov"><tbody>',
    ]
    parts += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _provenance(results)]
    parts += ["</tbody></table>", "</section>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


__all__ = ["FIGURE_NAMES", "GENERATOR", "Report", "figure_plan", "summary_rows", "write_report"]
