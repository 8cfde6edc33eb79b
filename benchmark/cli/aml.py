"""``amss-bench aml list|parse|encode``."""

from __future__ import annotations

import json

from benchmark.task import aml
from benchmark.cli import fail


def _list(args) -> int:
    for d in aml.descriptions(args.set):
        print(d)
    return 0


def _parse(args) -> int:
    try:
        q = aml.parse(args.query)
    except aml.AMLError as err:
        return fail(str(err))
    print(json.dumps(q.to_dict()))
    return 0


def _encode(args) -> int:
    try:
        ids = aml.encode(args.query)
    except aml.AMLError as err:
        return fail(str(err))
    print(json.dumps(ids))
    return 0


def register(sub) -> None:
    p = sub.add_parser("aml", help="the Audio Manipulation Language: list, parse and encode queries")
    s = p.add_subparsers(dest="aml_command", metavar="ACTION", required=True)
    q = s.add_parser("list", help="print one description per line, in the reference order")
    q.add_argument("--set", default="task2", choices=aml.TASK_SETS,
                   help="task2 (240 training descriptions), task1 (105), eval (25), sdr (4), mfcc (21)")
    q.set_defaults(func=_list)
    q = s.add_parser("parse", help="print a query as JSON")
    q.add_argument("query")
    q.set_defaults(func=_parse)
    q = s.add_parser("encode", help="print the token ids of a query as a JSON list")
    q.add_argument("query")
    q.set_defaults(func=_encode)
