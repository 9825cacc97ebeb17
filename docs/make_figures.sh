#!/usr/bin/env bash
# Regenerates the example figures of docs/analysis.md (docs/img/*.png) from the example specs.
# About 10 minutes on two cores. Run from anywhere: bash docs/make_figures.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python

make demo                                                    # results/demo, with its report
$PY run.py sweep scenarios/sweeps/penalty_collection_grid.yaml --force -j 2 --no-progress >/dev/null
$PY run.py report results/penalty_collection_grid
$PY run.py sweep scenarios/sweeps/penalty_cap_by_collection.yaml --force -j 2 --no-progress >/dev/null
$PY run.py report results/penalty_cap_by_collection
$PY run.py sensitivity scenarios/sensitivity/recession_sobol.yaml --force -j 2 --no-progress >/dev/null
$PY run.py report results/recession_sobol
$PY run.py sensitivity scenarios/sensitivity/behaviour_morris.yaml --force -j 2 --no-progress >/dev/null
$PY run.py report results/behaviour_morris
$PY scenarios/ema/prim_overdue.py --workers 2 --out results/ema_prim

mkdir -p docs/img
cp results/demo/figures/{fan_overdue,forest,roll_rates,vintages}.png docs/img/
cp results/penalty_collection_grid/figures/sweep_heatmap.png docs/img/
cp results/penalty_cap_by_collection/figures/main_effects.png docs/img/
cp results/recession_sobol/figures/sensitivity.png docs/img/sensitivity_sobol.png
cp results/behaviour_morris/figures/sensitivity.png docs/img/sensitivity_morris.png
cp results/ema_prim/prim_box.png docs/img/prim_box.png
echo "docs/img updated"
