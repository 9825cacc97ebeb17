"""Scenario loading: validation, `extends:` chains, overrides and the one-line error messages.

A scenario author who makes a mistake must get one line naming the file, the dotted key path
and what is allowed - from the Python API (`ConfigError`) and from the command line (exit code
2, no traceback).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from sim.config import ConfigError, ScenarioConfig, Section, load_scenario, parameter_rows

REPO_ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    """The message of the ConfigError raised by loading ``path`` (fails if none is raised)."""
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message, f"error message is not one line: {message!r}"
    return message


def run_cli(scenario: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "run.py",
            "run",
            str(scenario),
            "--months",
            "2",
            "--borrowers",
            "50",
            "--out",
            str(out),
            "--no-progress",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


# --------------------------------------------------------------------------- invalid values

INVALID = {
    # id: (yaml text, dotted key path expected in the message, other words expected)
    "unknown_nested_key": ("borrowers: {incom_median_monthly: 1}\n", "borrowers.incom_median_monthly", ["unknown key"]),
    "unknown_top_level_key": ("month: 12\n", "month", ["unknown key"]),
    "string_for_int": ('months: "ten"\n', "months", ["'ten'", "wrong type"]),
    "float_for_int_not_coerced": ("months: 10.0\n", "months", ["wrong type"]),
    "string_for_bool_not_coerced": (
        'regulator: {ban_third_party: "yes"}\n',
        "regulator.ban_third_party",
        ["'yes'", "wrong type"],
    ),
    "probability_above_one": (
        "borrowers: {demand_monthly: 1.5}\n",
        "borrowers.demand_monthly",
        ["1.5", "out of range"],
    ),
    "negative_amount": (
        "borrowers: {income_median_monthly: -5}\n",
        "borrowers.income_median_monthly",
        ["-5", "out of range"],
    ),
    "literal_not_allowed": (
        "platforms: {policy: {penalty: {rule: daily}}}\n",
        "platforms.policy.penalty.rule",
        ["'daily'", "not allowed", "'flat'", "'compounding'"],
    ),
    "bad_key_in_regulator_schedule": (
        "regulator: {schedule: [{month: 3, set: {apr_cap_anual: 0.24}}]}\n",
        "regulator.schedule[0].set.apr_cap_anual",
        ["unknown key"],
    ),
    "bad_value_in_regulator_schedule": (
        "regulator: {schedule: [{month: 3, set: {apr_cap_annual: -1}}]}\n",
        "regulator.schedule[0].set.apr_cap_annual",
        ["out of range"],
    ),
    "bad_value_in_platform_schedule": (
        "platforms: {schedule: [{month: 3, set: {penalty: {rule: daily}}}]}\n",
        "platforms.schedule[0].set.penalty.rule",
        ["not allowed"],
    ),
    "list_index_in_path": (
        "economy: {shocks: [{start: 2}, {start: 3, shape: square}]}\n",
        "economy.shocks[1].shape",
        ["'square'", "not allowed"],
    ),
    "first_list_item": ("economy: {shocks: [{start: 2, shape: square}]}\n", "economy.shocks[0].shape", ["not allowed"]),
}


@pytest.mark.parametrize("text, key_path, words", INVALID.values(), ids=INVALID.keys())
def test_invalid_value_gives_one_line_with_file_and_key_path(tmp_path, text, key_path, words):
    path = write(tmp_path, "bad.yaml", text)
    message = load_error(path)
    assert message.startswith(f"{path}: {key_path}: "), message
    for word in words:
        assert word in message


def test_strict_mode_does_not_coerce_numeric_strings(tmp_path):
    load_error(write(tmp_path, "s.yaml", 'borrowers: {count: "100"}\n'))
    load_error(write(tmp_path, "t.yaml", "regulator: {ban_night_contact: 1}\n"))


def test_missing_file_is_a_config_error(tmp_path):
    message = load_error(tmp_path / "nowhere.yaml")
    assert "nowhere.yaml" in message and "not found" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "syntax.yaml", "months: 3\nborrowers:\n  count: [1, 2\nburn_in: 4\n")
    message = load_error(path)
    assert str(path) in message
    assert "YAML syntax error" in message
    assert "line " in message


def test_top_level_must_be_a_mapping(tmp_path):
    message = load_error(write(tmp_path, "list.yaml", "- 1\n- 2\n"))
    assert "list.yaml" in message and "mapping" in message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_is_refused_rather_than_run_as_the_defaults(tmp_path, text):
    # An empty file is a truncated save or the wrong path far more often than a wish for the defaults.
    message = load_error(write(tmp_path, "empty.yaml", text))
    assert "empty.yaml: the file is empty" in message and "extends: baseline.yaml" in message
    config = load_scenario(write(tmp_path, "named.yaml", f"extends: {REPO_ROOT / 'scenarios' / 'baseline.yaml'}\n"))
    assert config.model_dump(exclude={"name"}) == ScenarioConfig().model_dump(exclude={"name"})


def test_cross_field_rule_is_enforced(tmp_path):
    message = load_error(write(tmp_path, "loans.yaml", "borrowers: {loan_income_min: 5.0, loan_income_max: 1.0}\n"))
    assert "borrowers" in message and "loan_income_max" in message


# --------------------------------------------------------------------------- extends


def test_extends_child_overrides_one_nested_key_and_keeps_parents_others(tmp_path):
    write(
        tmp_path,
        "parent.yaml",
        """\
        months: 30
        borrowers: {count: 400, demand_monthly: 0.1}
        regulator: {apr_cap_annual: 0.24}
        """,
    )
    child = write(
        tmp_path,
        "child.yaml",
        """\
        extends: parent.yaml
        borrowers: {count: 900}
        """,
    )
    config = load_scenario(child)
    assert config.name == "child"
    assert config.borrowers.count == 900
    assert config.borrowers.demand_monthly == 0.1
    assert config.months == 30
    assert config.regulator.apr_cap_annual == 0.24
    # untouched keys keep the code's defaults
    assert config.borrowers.income_sigma == ScenarioConfig().borrowers.income_sigma


def test_extends_path_is_relative_to_the_child_file(tmp_path):
    write(tmp_path, "base.yaml", "months: 7\n")
    config = load_scenario(write(tmp_path, "sub/dir/child.yaml", "extends: ../../base.yaml\nburn_in: 2\n"))
    assert (config.months, config.burn_in) == (7, 2)


def test_extends_cycle_is_reported(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    message = load_error(tmp_path / "a.yaml")
    assert "cycle" in message
    assert "a.yaml" in message and "b.yaml" in message


def test_extends_itself_is_a_cycle(tmp_path):
    assert "cycle" in load_error(write(tmp_path, "self.yaml", "extends: self.yaml\n"))


def test_extends_missing_parent_is_reported(tmp_path):
    message = load_error(write(tmp_path, "orphan.yaml", "extends: nothere.yaml\n"))
    assert message.startswith(f"{tmp_path / 'orphan.yaml'}: extends: ")
    assert "nothere.yaml" in message and "not found" in message


def test_extends_must_be_a_string(tmp_path):
    message = load_error(write(tmp_path, "num.yaml", "extends: 3\n"))
    assert "extends" in message


def test_error_in_parent_file_names_the_parent(tmp_path):
    parent = write(tmp_path, "parent.yaml", "borrowers: {cont: 5}\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nborrowers: {count: 100}\nmonths: 5\n")
    message = load_error(child)
    assert message.startswith(f"{parent}: borrowers.cont: "), message


def test_error_in_grandparent_names_the_grandparent(tmp_path):
    grand = write(tmp_path, "grand.yaml", "economy: {shocks: [{start: 2, shape: square}]}\n")
    write(tmp_path, "parent.yaml", "extends: grand.yaml\nmonths: 5\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nburn_in: 3\n")
    message = load_error(child)
    assert message.startswith(f"{grand}: economy.shocks[0].shape: "), message


def test_error_overridden_in_child_names_the_child(tmp_path):
    write(tmp_path, "parent.yaml", "borrowers: {count: 100}\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nborrowers: {count: 1}\n")
    assert load_error(child).startswith(f"{child}: borrowers.count: ")


def test_bad_schedule_in_parent_names_the_parent(tmp_path):
    parent = write(tmp_path, "parent.yaml", "regulator:\n  schedule:\n    - {month: 3, set: {apr_cap_anual: 0.24}}\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nregulator: {ban_night_contact: true}\n")
    message = load_error(child)
    assert "regulator.schedule[0].set.apr_cap_anual" in message
    assert message.startswith(f"{parent}: "), message


# --------------------------------------------------------------------------- overrides


def test_with_overrides_replaces_a_dotted_key_and_revalidates():
    base = ScenarioConfig()
    config = base.with_overrides({"borrowers.count": 100, "months": 3})
    assert config.borrowers.count == 100 and config.months == 3
    assert base.borrowers.count == ScenarioConfig().borrowers.count  # the original is unchanged
    with pytest.raises(ConfigError, match=r"borrowers\.count"):
        base.with_overrides({"borrowers.count": 5})  # below the minimum of 10
    with pytest.raises(ConfigError, match=r"borrowers\.count"):
        base.with_overrides({"borrowers.count": "100"})  # strict: no coercion


def test_with_overrides_rejects_unknown_leaf_key():
    with pytest.raises(ConfigError, match=r"borrowers\.cont"):
        ScenarioConfig().with_overrides({"borrowers.cont": 100})


@pytest.mark.parametrize("dotted", ["borrowrs.count", "months.extra"])
def test_with_overrides_rejects_unknown_parent_key(dotted):
    with pytest.raises(ConfigError, match=dotted.replace(".", r"\.")):
        ScenarioConfig().with_overrides({dotted: 100})


def test_config_is_frozen():
    config = ScenarioConfig()
    with pytest.raises(ValidationError, match="frozen"):
        config.months = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- baseline and docs


def test_baseline_yaml_equals_the_code_defaults():
    assert load_scenario(REPO_ROOT / "scenarios" / "baseline.yaml") == ScenarioConfig(name="baseline")


def test_every_parameter_has_a_description_and_a_source():
    rows = parameter_rows()
    assert len(rows) > 50
    for row in rows:
        assert row["description"].strip(), f"{row['key']} has no description"
        assert row["source"].strip(), f"{row['key']} has no source"
        if row["key"] not in ("name", "description"):
            assert row["source"].strip() != "-", f"{row['key']} has a placeholder source"


def _section_classes(cls: type[BaseModel], seen: set) -> None:
    if cls in seen:
        return
    seen.add(cls)
    for field in cls.model_fields.values():
        stack = [field.annotation]
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, Section):
                _section_classes(ann, seen)
            stack.extend(typing.get_args(ann))


def test_fields_of_list_items_are_documented_too():
    """Shocks, penalty tiers, custom conduct... are not rows of parameter_rows() but need docs too."""
    seen: set = set()
    _section_classes(ScenarioConfig, seen)
    assert {"Shock", "PenaltyTier", "CollectionConduct", "RuleChange"} <= {c.__name__ for c in seen}
    for cls in seen:
        for name, field in cls.model_fields.items():
            assert (field.description or "").strip(), f"{cls.__name__}.{name} has no description"
            assert (field.json_schema_extra or {}).get("source", "").strip(), f"{cls.__name__}.{name} has no source"


# --------------------------------------------------------------------------- command line

CLI_ERRORS = {
    "unknown_key": ("borrowers: {incom_median_monthly: 1}\n", "borrowers.incom_median_monthly"),
    "wrong_type": ('months: "ten"\n', "months"),
    "wrong_type_bool": ('regulator: {ban_third_party: "yes"}\n', "regulator.ban_third_party"),
    "yaml_syntax": ("months: 3\nborrowers:\n  count: [1, 2\n", "YAML syntax error (line "),
    "schedule_key": (
        "regulator: {schedule: [{month: 3, set: {apr_cap_anual: 0.24}}]}\n",
        "regulator.schedule[0].set.apr_cap_anual",
    ),
}


@pytest.mark.parametrize("text, expected", CLI_ERRORS.values(), ids=CLI_ERRORS.keys())
def test_cli_config_error_is_one_line_with_exit_code_2(tmp_path, text, expected):
    scenario = write(tmp_path, "scen.yaml", text)
    result = run_cli(scenario, tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "scen.yaml" in lines[0]
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_missing_scenario_file_exits_2_without_traceback(tmp_path):
    result = run_cli(tmp_path / "nowhere.yaml", tmp_path / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nowhere.yaml" in result.stderr
