"""Property-based tests (hypothesis) over the scenario and spec schemas.

1. At every key path of the scenario configuration (list items included), a generated invalid
   value gives one line naming the file and the key path, from the Python API and from
   ``run.py run`` with exit code 2.
2. The same for the top-level keys of comparison and sweep specs (``run.py compare/sweep``).
3. Generated valid configurations (any values within the declared ranges of the market's
   parameters, at a small size) run a few months with no NaN, no negative balance, every
   invariant of ``tests/test_model.py`` and every money identity of ``tests/test_money.py``.

Examples are bounded so the file takes about a minute: the schemas are walked exhaustively (a test
per key path), hypothesis chooses the values.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.spec import load_comparison, load_sweep
from sim.config import ConfigError, ScenarioConfig, Section, field_bounds, load_scenario, validate_scenario
from sim.keys import strip_optional
from tests.inprocess import run_in_process

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"
FAST = settings(
    max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def cli(*args: str) -> tuple[int, str]:
    """``run.py ARGS`` in this process (the checks fail before any model is built): exit code, stderr."""
    done = run_in_process(*args)
    return done.returncode, done.stderr


# --------------------------------------------------------------------------- the key paths


def leaves(model: type[Section], prefix: str = "") -> list[tuple[str, Any]]:
    """Every parameter of a section: (dotted path with [0] for list items, its pydantic field)."""
    out = []
    for name, field in model.model_fields.items():
        annotation = strip_optional(field.annotation)
        path = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, Section):
            out += leaves(annotation, path + ".")
        elif typing.get_origin(annotation) is list and _is_section(typing.get_args(annotation)[0]):
            out += leaves(typing.get_args(annotation)[0], path + "[0].")
        else:
            out.append((path, field))
    return out


def _is_section(x: Any) -> bool:
    return isinstance(x, type) and issubclass(x, Section)


KEYS = leaves(ScenarioConfig)


def nested(path: str, value: Any) -> dict:
    """The YAML mapping that sets ``path`` (``a.b[0].c``) to ``value``, list items created."""
    head, _, rest = path.partition(".")
    key, index = (head[:-3], True) if head.endswith("[0]") else (head, False)
    inner = value if not rest else nested(rest, value)
    return {key: [inner] if index else inner}


def invalid_values(field) -> st.SearchStrategy:
    """Values the field does not allow: out of its range, of the wrong type, not among its choices."""
    annotation = strip_optional(field.annotation)
    wrong_type = st.sampled_from(["text", [1, 2], {"a": 1}])
    if annotation is bool:
        return st.one_of(wrong_type, st.sampled_from([1, 0, "yes", 1.0]))
    if typing.get_origin(annotation) is Literal:
        allowed = set(typing.get_args(annotation))
        return st.one_of(wrong_type, st.text(min_size=1, max_size=8).filter(lambda s: s not in allowed), st.just(3))
    if annotation in (int, float):
        lo, hi = field_bounds(field)
        options = [wrong_type, st.just(True)]  # strict: a bool is not a number
        if lo is not None:
            options.append(st.floats(max_value=lo, exclude_max=True, allow_nan=False, allow_infinity=True))
        if hi is not None:
            options.append(st.floats(min_value=hi, exclude_min=True, allow_nan=False, allow_infinity=True))
        if annotation is int:
            options.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)))
        return st.one_of(*options)
    if typing.get_origin(annotation) is list:
        return st.one_of(st.just("text"), st.just({"a": 1}), st.just(["text"]))
    if typing.get_origin(annotation) is dict:
        return st.one_of(st.just("text"), st.just([1]))
    if annotation is str:
        return st.one_of(st.just([1]), st.just({"a": 1}), st.just(3))
    raise AssertionError(f"no invalid values for {annotation}")


@pytest.mark.parametrize("key, field", KEYS, ids=[k for k, _ in KEYS])
@FAST
@given(data=st.data())
def test_an_invalid_value_at_any_key_path_is_one_line_naming_the_file_and_key(tmp_path_factory, key, field, data):
    value = data.draw(invalid_values(field), label=key)
    folder = tmp_path_factory.mktemp("bad")
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(nested(key, value)), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: {key}"), message
    code, stderr = cli("run", str(path), "--out", str(folder / "out"), "--no-progress")
    assert code == 2 and stderr.splitlines() == [f"error: {message}"], stderr
    assert not (folder / "out").exists()


def test_the_walk_reaches_every_section_and_list():
    paths = [k for k, _ in KEYS]
    assert len(paths) > 180
    for expected in (
        "months",
        "economy.shocks[0].start",
        "economy.regime_switching.p_exit",
        "platforms.policy.penalty.tiers[0].min_dpd",
        "platforms.policy.collection.custom.contacts_by_bucket",
        "platforms.overrides[0].set",
        "regulator.schedule[0].month",
        "regulator.forbearance.holiday_months",
    ):
        assert expected in paths


# --------------------------------------------------------------------------- specs

BASE = str(SCENARIOS / "baseline.yaml")
GOOD = {
    "comparison": {"policies": [BASE], "replications": 2, "master_seed": 1, "outcomes": ["losses"]},
    "sweep": {
        "base": BASE,
        "design": "grid",
        "parameters": {"regulator.penalty_cap_annual": {"values": [0.1, 0.2]}},
        "replications": 2,
        "master_seed": 1,
        "outcomes": ["losses"],
    },
}
SPEC_KEYS = {
    # (kind, key): invalid values
    ("comparison", "replications"): st.one_of(st.integers(max_value=0), st.integers(min_value=100_001), st.just("2")),
    ("comparison", "master_seed"): st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63), st.just(1.5)),
    ("comparison", "outcomes"): st.one_of(st.just([]), st.text(min_size=1, max_size=6).map(lambda s: [s + "_x"])),
    ("comparison", "policies"): st.one_of(st.just([]), st.just(["no/such/file.yaml"]), st.just("text")),
    ("comparison", "shocks"): st.one_of(st.just([]), st.just(["missing.yaml"]), st.just([3])),
    ("comparison", "reference"): st.text(min_size=1, max_size=8).filter(lambda s: s != "baseline"),
    ("comparison", "overrides"): st.one_of(
        st.just({"borrowers.cont": 5}), st.integers(max_value=9).map(lambda n: {"borrowers.count": n})
    ),
    ("comparison", "description"): st.just([1]),
    ("comparison", "unknown"): st.integers(),
    ("sweep", "design"): st.text(max_size=8).filter(lambda s: s not in ("grid", "latin_hypercube", "sobol")),
    ("sweep", "samples"): st.one_of(st.integers(max_value=0), st.just("4")),
    ("sweep", "design_seed"): st.integers(max_value=-1),
    ("sweep", "parameters"): st.one_of(
        st.just({}),
        st.just({"regulator.penalty_capp": {"values": [0.1]}}),
        st.floats(min_value=0.06, max_value=0.9).map(
            lambda x: {"regulator.penalty_cap_annual": {"min": x, "max": x / 2, "levels": 2}}
        ),
    ),
    ("sweep", "base"): st.one_of(st.just("missing.yaml"), st.just(3)),
    ("sweep", "replications"): st.one_of(st.integers(max_value=0), st.just(None)),
}


@pytest.mark.parametrize("kind, key", SPEC_KEYS, ids=[f"{k}.{v}" for k, v in SPEC_KEYS])
@FAST
@given(data=st.data())
def test_an_invalid_spec_value_is_one_line_naming_the_file_and_key(tmp_path_factory, kind, key, data):
    value = data.draw(SPEC_KEYS[(kind, key)], label=key)
    folder = tmp_path_factory.mktemp("spec")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump({**GOOD[kind], key: value}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        (load_comparison if kind == "comparison" else load_sweep)(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: {key}"), message
    code, stderr = cli("compare" if kind == "comparison" else "sweep", str(path), "--dry-run")
    assert code == 2 and stderr.splitlines() == [f"error: {message}"], stderr


# --------------------------------------------------------------------------- valid configurations run

# Size and length are fixed small (the point is the mechanisms, not the scale); every other market
# parameter below is drawn from its declared range.
SIZE = {"borrowers": {"count": 300}, "months": 4, "burn_in": 3, "platforms": {"count": 3}}
FREE = [
    (path, field)
    for path, field in KEYS
    if "[0]" not in path
    and strip_optional(field.annotation) in (int, float, bool)
    and not path.startswith(("borrowers.count", "months", "burn_in", "platforms.count"))
    and path.split(".")[-1] not in ("loan_income_min", "loan_income_max", "min_cutoff", "max_cutoff", "cutoff")
    and not path.startswith(("platforms.policy.restructuring.m", "platforms.policy.collection.custom."))
]


def valid_value(field) -> st.SearchStrategy:
    annotation = strip_optional(field.annotation)
    if annotation is bool:
        return st.booleans()
    lo, hi = field_bounds(field)
    if annotation is int:
        return st.integers(min_value=int(lo), max_value=int(min(hi, lo + 400)))
    return st.floats(min_value=lo, max_value=hi, allow_nan=False)


@st.composite
def valid_configs(draw) -> dict:
    data: dict = yaml.safe_load(yaml.safe_dump(SIZE))
    chosen = draw(st.lists(st.sampled_from(FREE), min_size=5, max_size=25, unique_by=lambda kv: kv[0]))
    for path, field in chosen:
        value = draw(valid_value(field), label=path)
        if path.endswith("charge_off_dpd"):
            value = 30 * max(3, min(24, round(value / 30)))
        node = data
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    # the pairs that must be ordered, drawn ordered
    low, high = sorted(draw(st.lists(st.floats(0.0, 100.0), min_size=2, max_size=2)))
    data.setdefault("borrowers", {}).update(loan_income_min=low, loan_income_max=high)
    cuts = sorted(draw(st.lists(st.floats(-10.0, 10.0), min_size=3, max_size=3)))
    uw = data.setdefault("platforms", {}).setdefault("policy", {}).setdefault("underwriting", {})
    uw.update(min_cutoff=cuts[0], cutoff=cuts[1], max_cutoff=cuts[2])
    dpd = sorted(draw(st.lists(st.integers(30, 400), min_size=2, max_size=2)))
    data["platforms"]["policy"]["restructuring"] = {
        "enabled": draw(st.booleans()),
        "min_dpd": dpd[0],
        "max_dpd": dpd[1],
    }
    shock = draw(st.none() | st.integers(1, 4))
    if shock is not None:
        data.setdefault("economy", {})["shocks"] = [
            {"start": shock, "duration": 2, "unemployment_delta": 0.1, "funding_withdrawal": 0.3}
        ]
    return data


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=valid_configs(), seed=st.integers(0, 2**32 - 1))
def test_a_valid_configuration_runs_without_nan_negative_balances_or_broken_invariants(data, seed):
    from sim.model import LendingMarket
    from tests.test_model import check_invariants
    from tests.test_money import _stocks, check_money

    config = validate_scenario(data, source="generated")
    model = LendingMarket(config, seed=seed)
    before, month = _stocks(model), model.month
    for _ in range(model.n_steps):
        model.step()
        check_invariants(model, month)
        before = check_money(model, before)
        month = model.month
    frame = model.model_frame()
    numeric = frame.select_dtypes("number")
    assert len(frame) == config.burn_in + config.months
    assert not numeric.isna().any().any(), numeric.columns[numeric.isna().any()].tolist()
