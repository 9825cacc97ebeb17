"""The documentation is generated from, and checked against, the code."""

from pathlib import Path

from sim.config import commented_yaml, document_parameters, parameter_rows
from sim.metrics import MODEL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_table_in_model_md_is_current():
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    assert document_parameters(text) == text, "run: python -m sim.docgen --docs docs/model.md"


def test_every_parameter_is_documented_in_model_md():
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    missing = [r["key"] for r in parameter_rows() if f"`{r['key']}`" not in text]
    assert not missing


def test_every_output_column_is_described_in_model_md():
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    undocumented = [c for c in MODEL_COLUMNS if c not in text]
    assert not undocumented


def test_baseline_yaml_is_the_generated_commented_defaults():
    body = (ROOT / "scenarios" / "baseline.yaml").read_text(encoding="utf-8")
    yaml_lines = [line for line in body.splitlines() if not line.startswith("# lendsim") and line.strip()]
    generated = commented_yaml().splitlines()
    assert yaml_lines[-len(generated) :] == generated, "run: python -m sim.docgen --yaml (see baseline.yaml header)"


def test_documentation_links_stay_inside_the_repository():
    """Every relative link of README.md and docs/*.md points at a file of this repository (a clone
    has nothing beside it), and no page names a file outside it."""
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            path = (page.parent / target.split("#")[0]).resolve()
            if ROOT not in path.parents and path != ROOT or not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)
