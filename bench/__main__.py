"""`python -m bench run --scale small|full` (what `make bench` runs), and the steps it starts
in their own processes: prepare, grow, measure (one database each, from DATABASE_URL)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from .scale import SCALES, SIZE_FACTOR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="generate (or reuse), measure, write bench/last.json")
    run.add_argument("--scale", choices=sorted(SCALES), default="full")
    run.add_argument(
        "--server",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name",
    )
    run.add_argument("--database", help="base database (default backoffice_bench_<scale>)")
    run.add_argument("--regenerate", action="store_true", help="load a new portfolio")
    run.add_argument(
        "--drop-size-copy", action="store_true", help="drop the 10x database afterwards"
    )
    run.add_argument("--out", type=Path, default=Path(__file__).parent / "last.json")

    prepare = commands.add_parser("prepare")
    prepare.add_argument("--scale", choices=sorted(SCALES), required=True)
    prepare.add_argument("--regenerate", action="store_true")
    prepare.add_argument("--today", type=dt.date.fromisoformat)
    prepare.add_argument("--out", type=Path, required=True)

    grow = commands.add_parser("grow")
    grow.add_argument("--factor", type=int, default=SIZE_FACTOR)
    grow.add_argument("--out", type=Path, required=True)

    measure = commands.add_parser("measure")
    measure.add_argument("--scale", choices=sorted(SCALES), required=True)
    measure.add_argument("--naive", action="store_true")
    measure.add_argument("--explain", action="store_true")
    measure.add_argument("--out", type=Path, required=True)

    args = parser.parse_args(argv)
    logging.basicConfig(format="bench %(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("bench").setLevel(logging.INFO)

    if args.command == "run":
        from .run import run as run_all

        try:
            run_all(
                scale_name=args.scale,
                server=args.server.rstrip("/"),
                database=args.database,
                regenerate=args.regenerate,
                keep_size_copy=not args.drop_size_copy,
                out=args.out,
            )
        except Exception as error:  # a message and a non-zero exit, not a traceback
            print(f"bench: {error}", file=sys.stderr)
            return 1
        return 0

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from . import steps

    if args.command == "prepare":
        result = steps.prepare(scale_name=args.scale, regenerate=args.regenerate, today=args.today)
    elif args.command == "grow":
        result = steps.grow(factor=args.factor)
    else:
        result = steps.measure_database(
            scale_name=args.scale, naive=args.naive, explain=args.explain
        )
    args.out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
