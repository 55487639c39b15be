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


def _parser() -> argparse.ArgumentParser:
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

    delivery = commands.add_parser("delivery")
    delivery.add_argument("--scale", choices=sorted(SCALES), required=True)
    delivery.add_argument("--out", type=Path, required=True)

    last_night = commands.add_parser("last-night")
    last_night.add_argument("--out", type=Path, required=True)

    scan_workers = commands.add_parser("scan-workers")
    scan_workers.add_argument("--workers", type=int, required=True)
    scan_workers.add_argument("--out", type=Path, required=True)

    scale_out = commands.add_parser(
        "scale-out", help="the scan with 1, 2, 4 worker processes, each on a fresh copy"
    )
    scale_out.add_argument(
        "--server",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
    )
    scale_out.add_argument("--database", required=True, help="the portfolio to copy")
    scale_out.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    scale_out.add_argument("--runs", type=int, default=1)
    scale_out.add_argument("--out", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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

    if args.command == "scale-out":
        return _scale_out(args)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from . import steps

    if args.command == "prepare":
        result = steps.prepare(scale_name=args.scale, regenerate=args.regenerate, today=args.today)
    elif args.command == "grow":
        result = steps.grow(factor=args.factor)
    elif args.command == "delivery":
        result = steps.measure_delivery(scale_name=args.scale)
    elif args.command == "last-night":
        result = steps.last_night_of_portfolio()
    elif args.command == "scan-workers":
        from .scale_out import scan_with_workers

        result = scan_with_workers(count=args.workers)
    else:
        result = steps.measure_database(
            scale_name=args.scale, naive=args.naive, explain=args.explain
        )
    args.out.write_text(json.dumps(result, default=str))
    return 0


def _scale_out(args) -> int:
    from . import scale_out

    if any(count < 1 for count in args.workers) or args.runs < 1:
        print("bench: --workers and --runs take whole numbers of 1 or more", file=sys.stderr)
        return 2
    try:
        summary = scale_out.measure(
            args.server.rstrip("/"), args.database, tuple(args.workers), runs=args.runs
        )
    except Exception as error:  # a message and a non-zero exit, not a traceback
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print("\n".join(scale_out.lines(summary)))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
