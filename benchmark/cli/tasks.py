"""``amss-bench tasks list``: the evaluation task registry (benchmark/task/tasks.py) — id, version, kind, thesis table and
column, the AML query fed to the system, and the metrics each task's result files carry: those of the metric
families the task declares (``Task.metric_families``), looked up in the metric registry (benchmark/scoring/metricinfo.py).
``amss-bench tasks metrics``: the metric registry itself (family, direction, unit, floor, aggregation)."""

from __future__ import annotations

import json


def task_rows() -> list[dict]:
    from benchmark.scoring.metricinfo import task_metrics
    from benchmark.task.tasks import EVAL_TASKS

    return [{"id": t.id, "version": t.version, "kind": t.kind, "source": t.source, "table": t.table,
             "column": t.column, "query": t.description, "families": list(t.metric_families),
             "metrics": list(task_metrics(t))} for t in EVAL_TASKS]


def metric_rows() -> list[dict]:
    from benchmark.scoring.metricinfo import FAMILIES, METRICS
    from benchmark.task.tasks import EVAL_TASKS

    rows = []
    for m in METRICS.values():
        f = FAMILIES[m.family]
        rows.append({"metric": m.name, "family": f.name, "higher_is_better": m.higher_is_better, "unit": m.unit,
                     "floor": m.floor, "label": m.label, "compute": f.compute, "where": f.where,
                     "statistic": f.statistic, "group": f.group,
                     "tasks": sum(t.scores_with(f.name) for t in EVAL_TASKS)})
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
    print(f"{len(rows)} task(s); versions and their changes: benchmark/task/tasks.py CHANGELOG")
    return 0


def _metrics(args) -> int:
    rows = metric_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["metric"]) for r in rows)
    fwidth = max(len(r["family"]) for r in rows)
    for r in rows:
        floor = "—" if r["floor"] is None else f"{r['floor']:g}"
        print(f"{r['metric']:<{width}}  {r['family']:<{fwidth}}  {'higher' if r['higher_is_better'] else 'lower '} is "
              f"better  {r['unit']:<9}  floor {floor:<3}  {r['tasks']:>2} task(s)  {r['statistic']}")
    print(f"{len(rows)} metric(s); the registry: benchmark/scoring/metricinfo.py (docs/metrics.md, \"Adding a metric\")")
    return 0


def register(sub) -> None:
    from benchmark.task.tasks import KIND_FAMILIES

    p = sub.add_parser("tasks", help="the evaluation task registry (id, version, query, metrics)")
    tsub = p.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    lp = tsub.add_parser("list", help="print every evaluation task with its version, AML query and metrics")
    lp.add_argument("--kind", choices=sorted(KIND_FAMILIES), help="only the SDR or the edit (RMSE-MFCC) tasks")
    lp.add_argument("--json", action="store_true", help="machine-readable list")
    lp.set_defaults(func=_list)
    mp = tsub.add_parser("metrics", help="print the metric registry: family, direction, unit, floor, aggregation")
    mp.add_argument("--json", action="store_true", help="machine-readable list")
    mp.set_defaults(func=_metrics)
