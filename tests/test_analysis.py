"""analysis: reading results folders, figures, the report, DuckDB; and that it never imports the model.

The results folders are small real experiments (400 borrowers, 6 + 12 months) run once per module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure
from matplotlib.image import imread

import analysis
from analysis.figures import (
    fan_chart,
    forest_plot,
    roll_rate_heatmap,
    sensitivity_chart,
    sweep_heatmap,
    transition_matrix,
    vintage_curves,
)
from analysis.report import FIGURE_NAMES, write_report
from analysis.style import save_figure
from analysis.tables import AnalysisError, outcome_is_rate, outcome_key
from experiments.engine import read_run_table, run_experiment
from experiments.outcomes import OUTCOMES, OutcomeSpec
from experiments.spec import load_comparison, load_sweep

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"
SMALL = {"borrowers.count": 400, "months": 12, "burn_in": 6}
OUTCOMES_SPEC = ["peak_overdue_balance_rate", "cum_default_rate", "losses", "complaints"]


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> Path:
    """2 policies x 2 shocks (none, a shock in months 4-7) x 3 replications."""
    folder = tmp_path_factory.mktemp("analysis-comparison")
    shock = write_yaml(
        folder / "early_shock.yaml",
        {
            "extends": str(SCENARIOS / "baseline.yaml"),
            "economy": {
                "shocks": [
                    {"start": 4, "duration": 4, "shape": "step", "unemployment_delta": 0.08, "income_factor": 0.9}
                ]
            },
        },
    )
    spec = write_yaml(
        folder / "compare.yaml",
        {
            "description": "analysis test comparison",
            "policies": [str(SCENARIOS / "baseline.yaml"), str(SCENARIOS / "policies" / "bureau_reporting.yaml")],
            "shocks": ["none", str(shock)],
            "replications": 3,
            "master_seed": 5,
            "overrides": SMALL,
            "outcomes": OUTCOMES_SPEC,
        },
    )
    loaded, plan = load_comparison(spec)
    out = folder / "results"
    result = run_experiment(plan, out, spec=loaded.model_dump(mode="json"), spec_file=str(spec), progress=False)
    assert not result.failed
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A 3 x 2 grid sweep, 2 replications."""
    folder = tmp_path_factory.mktemp("analysis-sweep")
    spec = write_yaml(
        folder / "sweep.yaml",
        {
            "base": str(SCENARIOS / "baseline.yaml"),
            "design": "grid",
            "parameters": {
                "regulator.bureau_mandate_share": {"values": [0.0, 0.5, 1.0]},
                "platforms.policy.collection.regime": {"values": ["standard", "regulated"]},
            },
            "replications": 2,
            "master_seed": 9,
            "overrides": SMALL,
            "outcomes": ["peak_overdue_balance_rate", "losses"],
        },
    )
    loaded, plan = load_sweep(spec)
    out = folder / "results"
    result = run_experiment(plan, out, spec=loaded.model_dump(mode="json"), spec_file=str(spec), progress=False)
    assert not result.failed
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=600
    )


def png_is_drawn(path: Path) -> bool:
    """A PNG that decodes and is not one flat colour."""
    pixels = imread(path)
    return pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100 and float(pixels[..., :3].std()) > 0.02


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


# --------------------------------------------------------------------------- tables


def test_load_gives_tidy_tables_with_run_identifiers_in_plan_order(comparison):
    res = analysis.load(comparison)
    assert res.kind == "comparison" and res.reference == "baseline" and res.label_columns == ("policy", "shock")
    model = res.model
    assert list(model.columns[:5]) == ["run_id", "cell", "policy", "shock", "replication"]
    assert len(model) == 4 * 3 * (6 + 12)  # cells x replications x months (burn-in included)
    plan_runs = [r[0] for r in res.manifest["plan"]["runs"]]
    assert list(dict.fromkeys(model["run_id"])) == plan_runs
    one = model[model["run_id"] == plan_runs[0]]
    assert one["month"].tolist() == list(range(-5, 13))
    part = read_run_table(comparison, "model", plan_runs[0])
    np.testing.assert_array_equal(one["overdue_balance_rate"].to_numpy(), part["overdue_balance_rate"].to_numpy())
    assert set(res.vintages.columns) >= {"run_id", "policy", "vintage", "months_on_book", "cum_default_rate"}
    assert res.platforms["run_id"].nunique() == 12
    assert res.cells["cell"].tolist() == [c["id"] for c in res.manifest["plan"]["cells"]]
    assert [s["key"] for s in res.outcome_specs] == OUTCOMES_SPEC


def test_load_reads_a_single_run_folder(tmp_path):
    from experiments.single import run_single
    from sim.config import load_scenario

    config = load_scenario(SCENARIOS / "baseline.yaml").with_overrides(SMALL)
    out, frame = run_single(config, 3, tmp_path / "run", progress=False)
    res = analysis.load(out)
    assert res.kind == "run" and res.runs["run_id"].tolist() == ["run"]
    assert len(res.model) == len(frame) and res.model["run_id"].eq("run").all()
    written = write_report(out)
    page = written.html.read_text(encoding="utf-8")
    assert [f'<figure id="fig-{n}">' in page for n in ("fan_overdue", "roll_rates", "vintages")] == [True] * 3
    assert "headline outcomes after burn-in" in page


def test_load_refuses_what_is_not_a_finished_results_folder(tmp_path, comparison):
    with pytest.raises(AnalysisError, match="no manifest.json"):
        analysis.load(tmp_path)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(comparison, unfinished)
    manifest = json.loads((unfinished / "manifest.json").read_text())
    (unfinished / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(AnalysisError, match="did not finish"):
        analysis.load(unfinished)


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_outcome_names_and_rate_flags_agree_with_the_experiments_registry(name):
    outcome = OUTCOMES[name]
    record = {
        "name": name,
        "month": 3 if "month" in outcome.params else None,
        "column": "m1_rate" if "column" in outcome.params else None,
        "months_on_book": 6 if "months_on_book" in outcome.params else None,
        "from": 2,
        "to": 9,
    }
    spec = OutcomeSpec.model_validate({k: v for k, v in record.items() if v is not None})
    assert outcome_key(record) == spec.key
    assert spec.record() == {k: v for k, v in record.items() if v is not None}
    assert outcome_is_rate(record) == spec.is_rate
    if "column" in outcome.params:
        record["column"] = "complaints"
        assert outcome_is_rate(record) == OutcomeSpec.model_validate(record).is_rate is False


def test_analysis_never_imports_the_model(comparison, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(comparison, copy)
    code = (
        "import sys, analysis\n"
        "from analysis import figures, report, sensitivity, sql, style, tables\n"
        f"res = analysis.load({str(copy)!r}); res.model; res.vintages\n"
        f"analysis.write_report({str(copy)!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sim', 'experiments', 'mesa'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------- figures


def test_fan_chart_draws_a_panel_per_policy_and_shock_with_the_shock_shaded(comparison, tmp_path):
    res = analysis.load(comparison)
    fig = fan_chart(res.model, "overdue_balance_rate", reference="baseline")
    axes = visible_axes(fig)
    assert len(axes) == 4  # 2 shocks (rows) x 2 policies (columns)
    assert [ax.get_title() for ax in axes] == [
        "baseline / none (n=3)",
        "bureau_reporting / none (n=3)",
        "baseline / early_shock (n=3)",
        "bureau_reporting / early_shock (n=3)",
    ]
    assert all(ax.get_xlabel() == "Month after burn-in" for ax in axes[2:])
    assert axes[0].get_ylabel().replace("\n", " ") == "Overdue rate, M1+ by balance (%)"
    spans = [[c for c in ax.get_children() if type(c).__name__ == "Rectangle" and c.get_alpha() == 0.25] for ax in axes]
    assert not spans[0] and not spans[1] and spans[2] and spans[3]
    x0, x1 = spans[2][0].get_x(), spans[2][0].get_x() + spans[2][0].get_width()
    assert (x0, x1) == (3.5, 7.5)  # months 4-7
    lines = axes[1].get_lines()
    assert len(lines) == 2 and lines[1].get_linestyle() == "--"  # median, and the reference's median
    assert len(lines[0].get_xdata()) == 12
    paths = save_figure(fig, tmp_path / "fan")
    assert [p.suffix for p in paths] == [".png", ".svg"] and png_is_drawn(paths[0])


def test_forest_plot_has_one_panel_per_outcome_with_the_paired_intervals(comparison, tmp_path):
    res = analysis.load(comparison)
    fig = forest_plot(res.summary, is_rate={s["key"]: s["is_rate"] for s in res.outcome_specs})
    axes = visible_axes(fig)
    assert len(axes) == len(OUTCOMES_SPEC)
    first = axes[0]
    assert first.get_xlabel() == "Δ vs baseline (pp)" and axes[2].get_xlabel() == "Δ vs baseline (CNY)"
    assert [t.get_text() for t in first.get_yticklabels()] == [
        "bureau_reporting / early_shock",
        "bureau_reporting / none",
    ]
    summary = res.summary
    row = summary[(summary["outcome"] == "peak_overdue_balance_rate") & (summary["policy"] == "bureau_reporting")]
    points = first.collections[-1].get_offsets()
    assert sorted(points[:, 0]) == sorted(row["diff_mean"])
    assert png_is_drawn(save_figure(fig, tmp_path / "forest")[0])


def _forest_summary() -> pd.DataFrame:
    """Two policies, each lower than the reference on two outcomes: fewer defaults, less credit."""
    rows = []
    for policy, mean, lo, hi in (("cap", -0.02, -0.03, -0.01), ("ban", 0.01, -0.005, 0.025)):
        for outcome, scale in (("cum_default_rate", 1.0), ("credit_supply", 1e5), ("overdue_amount_ratio", 1.0)):
            rows.append(
                {
                    "cell": f"{policy}__none",
                    "policy": policy,
                    "shock": "recession",
                    "outcome": outcome,
                    "reference": "baseline",
                    "diff_n": 4,
                    "diff_mean": mean * scale,
                    "diff_ci_low": lo * scale,
                    "diff_ci_high": hi * scale,
                }
            )
    return pd.DataFrame(rows)


def test_forest_plot_colours_say_better_or_worse_per_outcome_and_markers_keep_the_sign():
    from matplotlib.colors import to_hex

    from analysis.style import BETTER_COLOUR, NEUTRAL_COLOUR, WORSE_COLOUR

    better = {"cum_default_rate": "lower", "credit_supply": "higher", "overdue_amount_ratio": None}
    fig = forest_plot(_forest_summary(), better=better)
    defaults, supply, ratio = visible_axes(fig)

    def points(ax) -> dict[float, tuple[str, str]]:
        """x of each marker -> (edge colour, marker kind: '>' or '<', where the triangle's tip points)."""
        out = {}
        for collection in ax.collections[1:]:  # the first is the error bars
            vertices = collection.get_paths()[0].vertices
            tip = vertices[np.abs(vertices[:, 1]) < 1e-9][0]
            kind = ">" if tip[0] > 0 else "<"
            for (x, _), edge in zip(collection.get_offsets(), collection.get_edgecolors()):
                out[round(float(x), 6)] = (to_hex(edge), kind)
        return out

    # the same sign is good for defaults and bad for credit supply
    assert points(defaults)[-0.02] == (BETTER_COLOUR.lower(), "<")
    assert points(defaults)[0.01] == (WORSE_COLOUR.lower(), ">")
    assert points(supply)[-2000.0] == (WORSE_COLOUR.lower(), "<")
    assert points(supply)[1000.0] == (BETTER_COLOUR.lower(), ">")
    assert {c for c, _ in points(ratio).values()} == {NEUTRAL_COLOUR.lower()}
    assert defaults.get_title().replace("\n", " ") == "Cumulative default rate; lower is better"
    assert "under the shock 'recession'" in fig._suptitle.get_text().replace("\n", " ")


def test_forest_plot_refuses_a_sweep_summary(sweep):
    with pytest.raises(ValueError, match="comparison"):
        forest_plot(analysis.load(sweep).summary)


def test_transition_matrix_pools_by_loans_at_risk_not_by_month():
    # Two months after burn-in; at-risk counts come from the month before each.
    frame = pd.DataFrame(
        {
            "run_id": "r",
            "month": [0, 1, 2],
            "is_burn_in": [True, False, False],
            "live_loans": [100, 1000, 100],
            "overdue_rate": [0.1, 0.1, 0.1],
            "m1_rate": [0.1, 0.1, 0.1],
            "m2_rate": 0.0,
            "m3_rate": 0.0,
            "m3plus_rate": 0.0,
            "roll_current_m1": [0.0, 0.1, 0.3],
            "roll_m1_m2": [0.0, 0.5, 0.2],
            "roll_m2_m3": 0.0,
            "roll_m3_default": 0.0,
            "cure_rate": [0.0, 0.4, 0.6],
        }
    )
    matrix = transition_matrix(frame)
    # month 1: 90 current, 10 in M1 at risk (from month 0); month 2: 900 and 100 (from month 1)
    assert matrix.loc["Current", "M1"] == pytest.approx((0.1 * 90 + 0.3 * 900) / 990)
    assert matrix.loc["M1", "M2"] == pytest.approx((0.5 * 10 + 0.2 * 100) / 110)
    assert matrix.loc["any overdue", "Current"] == pytest.approx((0.4 * 10 + 0.6 * 100) / 110)
    assert matrix.loc["M1", "M1"] == pytest.approx(1 - matrix.loc["M1", "M2"])
    assert np.isnan(matrix.loc["Current", "M2"])


def test_roll_rate_heatmap_shows_a_transition_matrix_per_policy(comparison, tmp_path):
    res = analysis.load(comparison)
    model = res.model[res.model["shock"] == "early_shock"]
    matrix = transition_matrix(model[model["policy"] == "baseline"])
    values = matrix.to_numpy()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
    np.testing.assert_allclose(np.nansum(values[:4], axis=1), 1.0)
    fig = roll_rate_heatmap(model, panel_by="policy")
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["baseline (n=3)", "bureau_reporting (n=3)"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["Current", "M1", "M2", "M3", "M3+"]
    assert axes[0].images[0].get_array().shape == (5, 5)
    texts = [t.get_text() for t in axes[0].texts]
    assert f"{100 * matrix.loc['Current', 'M1']:.1f}" in texts
    assert png_is_drawn(save_figure(fig, tmp_path / "rolls")[0])


def test_vintage_curves_draw_cumulative_default_by_months_on_book(comparison, tmp_path):
    res = analysis.load(comparison)
    fig = vintage_curves(res.vintages[res.vintages["shock"] == "none"], panel_by="policy", cohort_months=3)
    axes = visible_axes(fig)
    assert len(axes) == 2 and axes[0].get_xlabel() == "Months on book"
    assert axes[0].get_ylabel() == "Cumulative default rate (% of loans)"
    lines = axes[0].get_lines()
    assert lines and all(np.all(np.diff(line.get_ydata()) >= -1e-12) for line in lines)  # cumulative: never falls
    assert png_is_drawn(save_figure(fig, tmp_path / "vintages")[0])


def test_sweep_heatmap_has_a_cell_per_grid_point(sweep, tmp_path):
    res = analysis.load(sweep)
    fig = sweep_heatmap(
        res.outcomes,
        "regulator.bureau_mandate_share",
        "platforms.policy.collection.regime",
        ["peak_overdue_balance_rate", "losses"],
    )
    axes = [ax for ax in visible_axes(fig) if ax.images]
    assert len(axes) == 2
    grid = axes[0].images[0].get_array()
    assert grid.shape == (2, 3) and not np.ma.is_masked(grid)
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["0", "0.5", "1"]
    expected = res.outcomes.groupby(["platforms.policy.collection.regime", "regulator.bureau_mandate_share"])[
        "peak_overdue_balance_rate"
    ].mean()
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["standard", "regulated"]
    assert grid[0, 2] == pytest.approx(expected[("standard", 1.0)])
    assert grid[1, 0] == pytest.approx(expected[("regulated", 0.0)])
    assert axes[0].get_xlabel() == "regulator.bureau_mandate_share"
    assert png_is_drawn(save_figure(fig, tmp_path / "sweep")[0])


def test_sensitivity_chart_draws_bars_with_intervals_for_each_index():
    table = pd.DataFrame(
        {
            "method": "sobol",
            "outcome": ["y"] * 3,
            "parameter": ["a", "b", "c"],
            "order": 1,
            "S1": [0.3, 0.4, 0.0],
            "S1_conf": 0.05,
            "ST": [0.55, 0.45, 0.25],
            "ST_conf": 0.05,
            "replications": 2,
        }
    )
    fig = sensitivity_chart(table)
    ax = visible_axes(fig)[0]
    assert len(ax.patches) == 6 and ax.get_xlabel() == "share of variance explained"
    assert sorted(round(p.get_width(), 2) for p in ax.patches) == [0.0, 0.25, 0.3, 0.4, 0.45, 0.55]
    labels = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert labels["a"] > labels["b"] > labels["c"]  # first parameter on top


def test_saved_figures_are_byte_identical_each_time(comparison, tmp_path):
    res = analysis.load(comparison)
    fig = forest_plot(res.summary)
    first = [p.read_bytes() for p in save_figure(fig, tmp_path / "a" / "f")]
    second = [p.read_bytes() for p in save_figure(forest_plot(res.summary), tmp_path / "b" / "f")]
    assert first == second
    assert b"<dc:date>" not in first[1]


# --------------------------------------------------------------------------- report


class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "srcset", "data", "action", "poster") and v]


def test_report_is_one_self_contained_page_with_every_figure_and_the_table(comparison, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(comparison, folder)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    written = write_report(folder)
    page = written.html.read_text(encoding="utf-8")

    parser = _Resources()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in parser.urls), parser.urls
    assert "http://" not in page and "https://" not in page and "@import" not in page and "url(" not in page

    res = analysis.load(folder)
    names = ["fan_overdue", "fan_m3plus", "fan_credit_supply", "fan_new_defaults", "forest", "roll_rates", "vintages"]
    for name in names:
        assert f'<figure id="fig-{name}">' in page
    images = [u for u in parser.urls if u.startswith("data:")]
    assert len(images) == len(names)
    assert sorted(p.name for p in written.figures) == sorted(f"{n}.{e}" for n in names for e in ("png", "svg"))
    for outcome in OUTCOMES_SPEC:
        assert f'<h3 id="summary-{outcome}">' in page
    summary = res.summary
    row = summary[(summary["outcome"] == "peak_overdue_balance_rate") & (summary["cell"] == "baseline__none")].iloc[0]
    assert f"{100 * row['mean']:.2f}%" in page
    diff = res.summary[(res.summary["outcome"] == "losses") & (res.summary["cell"] == "bureau_reporting__early_shock")]
    assert f"{diff['diff_mean'].iloc[0]:+,.0f}" in page
    assert res.manifest["git"] is None or res.manifest["git"]["commit"] in page
    assert "master_seed: 5" in page  # the spec
    spec_text = page[page.index('<section id="spec">') : page.index('<section id="provenance">')]
    assert "null" not in spec_text and "- peak_overdue_balance_rate\n" in spec_text  # as a spec file writes it

    markdown = written.markdown.read_text(encoding="utf-8")
    for name in names:
        assert f"](figures/{name}.png)" in markdown and (folder / "figures" / f"{name}.png").is_file()
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else touched
    assert set(after) - set(before) == {
        Path("report.html"),
        Path("report.md"),
        *(Path("figures") / p.name for p in written.figures),
    }


def _texts_outside_or_overlapping(fig: Figure) -> list[str]:
    """Texts that leave the figure, and panel titles or axis labels that run into one another."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    frame = fig.bbox
    bad = []
    labels = []
    # tick labels are placed by matplotlib (and those of ticks outside the view are never drawn)
    ticks = {
        id(t)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for t in axis.get_ticklabels(which="both") + [tick.label2 for tick in axis.get_major_ticks()]
    }
    for text in fig.findobj(lambda a: type(a).__name__ == "Text"):
        if not text.get_visible() or not text.get_text().strip() or id(text) in ticks:
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < frame.x0 - 1 or box.x1 > frame.x1 + 1 or box.y0 < frame.y0 - 1 or box.y1 > frame.y1 + 1:
            bad.append(f"outside the figure: {text.get_text()!r}")
    for ax in fig.axes:
        if ax.get_visible():
            labels += [
                (t.get_text(), t.get_window_extent(renderer)) for t in (ax.title, ax.yaxis.label) if t.get_text()
            ]
    for i, (a, box_a) in enumerate(labels):
        for b, box_b in labels[i + 1 :]:
            if box_a.overlaps(box_b):
                bad.append(f"{a!r} runs into {b!r}")
    return bad


def test_every_report_figure_keeps_its_titles_and_labels_whole(comparison, tmp_path):
    from analysis.report import figure_plan

    folder = tmp_path / "copy"
    shutil.copytree(comparison, folder)
    # the longest outcome titles a report draws: windows and long labels
    manifest = json.loads((folder / "manifest.json").read_text())
    for info in manifest["plan"]["outcome_info"]:
        if info["key"] == "losses":
            info["key"] = "credit_supply_from24_to48"  # "Credit supply (monthly originations), months 24-48"
    summary = pd.read_csv(folder / "summary.csv")
    summary["outcome"] = summary["outcome"].replace("losses", "credit_supply_from24_to48")
    summary.to_csv(folder / "summary.csv", index=False)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    res = analysis.load(folder)
    for item in figure_plan(res):
        assert _texts_outside_or_overlapping(item.build()) == [], item.name


def test_every_comparison_figure_names_its_shock(comparison):
    from analysis.report import figure_plan

    res = analysis.load(comparison)
    for item in figure_plan(res):
        fig = item.build()
        ticks = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
        text = " ".join([fig._suptitle.get_text()] + [ax.get_title() for ax in fig.axes] + ticks).replace("\n", " ")
        assert "early_shock" in text, item.name  # in the figure's title, a panel's, or a row's name
        assert "early_shock" in item.title, item.name  # and in the report's heading


def test_report_is_reproducible_and_replaces_only_its_own_files(comparison, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(comparison, folder)
    write_report(folder)
    first = hashlib.sha256((folder / "report.html").read_bytes()).hexdigest()
    (folder / "figures" / "sweep_heatmap.png").write_bytes(b"stale")  # a figure this kind does not draw
    write_report(folder)
    assert hashlib.sha256((folder / "report.html").read_bytes()).hexdigest() == first
    assert not (folder / "figures" / "sweep_heatmap.png").exists()

    (folder / "figures" / "mine.png").write_bytes(b"a user's file")
    with pytest.raises(AnalysisError, match="did not write"):
        write_report(folder)
    (folder / "figures" / "mine.png").unlink()
    (folder / "report.html").write_text("<html>someone else's</html>")
    with pytest.raises(AnalysisError, match="was not written by run.py report"):
        write_report(folder)
    assert (folder / "report.html").read_text() == "<html>someone else's</html>"


def test_report_of_a_sweep_has_the_sweep_heatmap_main_effects_and_the_decomposition(sweep, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(sweep, folder)
    written = write_report(folder)
    page = written.html.read_text(encoding="utf-8")
    assert '<figure id="fig-sweep_heatmap">' in page and '<figure id="fig-forest">' not in page
    assert '<figure id="fig-main_effects">' in page and '<section id="effects">' in page
    assert "replication (shared seed)" in page and "Δ vs p000" in page
    assert all(png_is_drawn(p) for p in written.figures if p.suffix == ".png")
    assert set(p.stem for p in written.figures) <= set(FIGURE_NAMES)


def test_sweep_figures_are_drawn_per_cell_or_per_level_never_pooled(sweep):
    from analysis.report import figure_plan

    res = analysis.load(sweep)
    runs_per_cell = res.replications
    figures = {item.name: item.build() for item in figure_plan(res)}
    fan = [ax for ax in visible_axes(figures["fan_overdue"])]
    assert len(fan) == len(res.cells) == 6  # a 3 x 2 grid: one panel a design point
    assert all(ax.get_title().endswith(f"(n={runs_per_cell})") for ax in fan)
    for name in ("roll_rates", "vintages"):
        titles = [ax.get_title() for ax in visible_axes(figures[name]) if ax.get_title()]
        assert len(titles) > 1 and not any("all runs" in t for t in titles), (name, titles)
        assert all(t.endswith(f"(n={2 * runs_per_cell})") or t.endswith(f"(n={3 * runs_per_cell})") for t in titles)


def test_cli_report_writes_the_report_and_a_bad_folder_is_a_one_line_error(comparison, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(comparison, folder)
    done = run_cli("report", str(folder))
    assert done.returncode == 0, done.stderr
    assert "report.html" in done.stdout and (folder / "report.html").is_file()
    bad = run_cli("report", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: not a folder"]


# --------------------------------------------------------------------------- DuckDB


@pytest.mark.skipif(importlib.util.find_spec("duckdb") is None, reason="DuckDB not installed (extra: .[duckdb])")
def test_duckdb_query_reads_every_part_like_pandas(comparison):
    got = analysis.query(
        comparison,
        """
        SELECT policy, shock, month, median(overdue_balance_rate) AS overdue
        FROM model JOIN runs USING (run_id) WHERE NOT is_burn_in GROUP BY ALL ORDER BY ALL""",
    )
    model = analysis.load(comparison).model
    want = (
        model[~model["is_burn_in"]]
        .groupby(["policy", "shock", "month"])["overdue_balance_rate"]
        .median()
        .reset_index()
        .sort_values(["policy", "shock", "month"])
        .reset_index(drop=True)
    )
    np.testing.assert_allclose(got["overdue"].to_numpy(), want["overdue_balance_rate"].to_numpy())
    assert got["month"].tolist() == want["month"].tolist()
    assert analysis.query(comparison, "SELECT count(DISTINCT run_id) AS n FROM vintages")["n"].iloc[0] == 12
