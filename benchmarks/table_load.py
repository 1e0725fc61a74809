"""The table source at scale: load, encode and split a synthetic Parquet table, timed, with peak RSS.

    python benchmarks/table_load.py [--rows 25000000] [--split random] [--string-items] [--csv] [--out FILE]

Writes a Parquet file of ``--rows`` interactions (ml-25m's shape: 162,541 users, 62,423 items,
half-star ratings, Unix-second timestamps; items Zipf-popular) into a temporary folder, then, in a
fresh interpreter, reads it with ``mtrec.data.table.read_table`` (reading, checks, encoding,
duplicate counting, the content digest) and splits it with ``dataset.split``'s rule. The child
reports each phase's seconds and its own peak RSS (kernel rusage), so the parent's copy of the
generated data is not counted. It asserts nothing: this reports (the issue's goal: under 60 s
and 4 GB for 25M rows).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
USERS, ITEMS = 162_541, 62_423

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from mtrec.data.splits import split_rows
from mtrec.data.table import TableSpec, read_table

started = time.perf_counter()
data = read_table(TableSpec(sys.argv[2], "user", "item", "rating", "timestamp", duplicates="keep"))
loaded = time.perf_counter()
split = split_rows(data, sys.argv[3], 0.2, 42)
done = time.perf_counter()
print(json.dumps({
    "load_encode_seconds": loaded - started,
    "split_seconds": done - loaded,
    "total_seconds": done - started,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rows": len(data), "users": data.num_users, "items": data.num_movies,
    "train_rows": len(split.train), "test_rows": len(split.test),
    "duplicate_rows": int(data.source["duplicate_rows"]),
}))
"""


def write_table(path: Path, rows: int, string_items: bool, seed: int = 0) -> float:
    """Writes the synthetic table in row groups of 2^20 rows; returns the file's size in MB."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, ITEMS + 1) ** 0.9
    popularity /= popularity.sum()
    chunk = 1 << 20
    schema = pa.schema(
        [
            ("user", pa.int64()),
            ("item", pa.string() if string_items else pa.int64()),
            ("rating", pa.float32()),
            ("timestamp", pa.int64()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            items = rng.choice(ITEMS, size=n, p=popularity)
            columns = {
                "user": rng.integers(1, USERS + 1, n),
                "item": pa.array(np.char.add("item-", items.astype(str))) if string_items else items,
                "rating": (rng.integers(1, 11, n) / 2).astype(np.float32),
                "timestamp": rng.integers(789_652_009, 1_574_327_703, n),
            }
            writer.write_table(pa.table(columns, schema=schema))
    return path.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=25_000_000)
    parser.add_argument("--split", default="random", choices=["random", "temporal", "leave_last_out"])
    parser.add_argument("--string-items", action="store_true", help="item ids as text ('item-123')")
    parser.add_argument("--csv", action="store_true", help="read the table as a CSV file instead")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "table_load.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "interactions.parquet"
        started = time.perf_counter()
        size_mb = write_table(path, args.rows, args.string_items)
        if args.csv:
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            csv_path = path.with_suffix(".csv")
            pacsv.write_csv(pq.read_table(path), csv_path)
            path.unlink()
            path, size_mb = csv_path, csv_path.stat().st_size / 1e6
        written = time.perf_counter() - started
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(REPO), str(path), args.split],
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        raise SystemExit(f"the reader failed ({out.returncode}):\n{out.stderr[-3000:]}")
    report = {
        "rows_asked": args.rows,
        "split": args.split,
        "string_items": args.string_items,
        "format": "csv" if args.csv else "parquet",
        "file_mb": size_mb,
        "write_seconds": written,
    }
    report |= json.loads(out.stdout.strip().splitlines()[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(
        f"{report['rows']:,} rows ({report['users']:,} users, {report['items']:,} items, "
        f"{report['file_mb']:.0f} MB {report['format']}, {args.split} split): load+encode "
        f"{report['load_encode_seconds']:.1f} s, split {report['split_seconds']:.1f} s, total "
        f"{report['total_seconds']:.1f} s, peak RSS {report['peak_rss_mb']:.0f} MB"
    )
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
