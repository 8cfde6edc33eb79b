"""``amss-bench tasks list``: the evaluation task registry (benchmark/tasks.py) — id, version, kind, thesis table and
column, the AML query fed to the system, and the metrics each task's result files carry (benchmark/metricinfo.py)."""

from __future__ import annotations

import json

#: the metric families each task kind writes (evaluate: SDR tasks → BSS-Eval v4 + global SDR; edit tasks → RMSE-MFCC
#: with its MAE companions)
KIND_FAMILIES = {"sdr": ("bss_eval", "global_sdr"), "mfcc": ("rmse_mfcc",)}


def task_rows() -> list[dict]:
    from benchmark.metricinfo import METRICS
    from benchmark.tasks import EVAL_TASKS

    rows = []
    for t in EVAL_TASKS:
        metrics = [m.name for m in METRICS.values() if m.family in KIND_FAMILIES[t.kind]]
        rows.append({"id": t.id, "version": t.version, "kind": t.kind, "source": t.source, "table": t.table,
                     "column": t.column, "query": t.description, "metrics": metrics})
    return rows


def _list(args) -> int:
    rows = task_rows()
    if args.kind:
        rows = [r for r in rows if r["kind"] == args.kind]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        print(f"{r['id']:<{width}}  v{r['version']}  {r['kind']:<4}  Table {r['table']} {r['column']:<16}  "
              f"{r['query']!r}  [{', '.join(r['metrics'])}]")
    print(f"{len(rows)} task(s); versions and their changes: benchmark/tasks.py CHANGELOG")
    return 0


def register(sub) -> None:
    p = sub.add_parser("tasks", help="the evaluation task registry (id, version, query, metrics)")
    tsub = p.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    lp = tsub.add_parser("list", help="print every evaluation task with its version, AML query and metrics")
    lp.add_argument("--kind", choices=sorted(KIND_FAMILIES), help="only the SDR or the edit (RMSE-MFCC) tasks")
    lp.add_argument("--json", action="store_true", help="machine-readable list")
    lp.set_defaults(func=_list)
