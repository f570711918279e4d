"""Memory-aligned (fair) comparison on one small protocol: accuracy next to total bytes per method.

    OMP_NUM_THREADS=1 python benchmarks/memo_fair.py --preset memo-fmnist-fair --out /tmp/fair memo der icarl replay

Every method gets the total memory of the reference (budget.reference_*); the table shows what
each one spends on its model and on exemplars after the last task.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from retain.runs.budgeting import dataset_geometry, resolve_budget
from retain.runs.config import build_config
from retain.launch import launch as run  # as `retain run`: each method's report.md included


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="+")
    parser.add_argument("--preset", default="memo-fmnist-fair")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = []
    for name in args.methods:
        config = build_config(preset=args.preset, overrides=[f"method.name={name}", *args.overrides], seed=args.seed)
        out = args.out / name
        results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else run(config, out=out)
        ledger = results.get("ledger") or [{"total_bytes": 0, "exemplars": 0}]
        shape, _ = dataset_geometry(config)
        resolved = resolve_budget(config, shape, len(results["stage_accuracy"]))
        model = results.get("method_results", {}).get("model_bytes", [resolved.base_model_bytes])[-1]
        exemplar_bytes = ledger[-1]["items"].get("exemplars", 0) if "items" in ledger[-1] else 0
        rows.append((name, model + exemplar_bytes, model, ledger[-1]["exemplars"], results["metrics"]["last_accuracy"],
                     results["metrics"]["average_incremental_accuracy"], resolved.total_bytes))
    print(f"{'method':<10} {'total bytes':>12} {'model bytes':>12} {'exemplars':>9} {'last %':>7} {'avg %':>7} {'allowed':>10}")
    for name, total, model, exemplars, last, avg, allowed in rows:
        print(f"{name:<10} {total:>12,} {model:>12,} {exemplars:>9} {last:>7.2f} {avg:>7.2f} {allowed:>10,}")


if __name__ == "__main__":
    main()
