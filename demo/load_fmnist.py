#!/usr/bin/python3
"""Load Fashion-MNIST into PostgreSQL tables with binary COPY.

    /usr/bin/python3 demo/load_fmnist.py [--train N] [--test N]

Connects with the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE) and
(re)creates

    fmnist_classes(k int PRIMARY KEY, label text)       -- the 10 class names
    fmnist_train(id bigint PRIMARY KEY, label text, x float8[])
    fmnist_test (id bigint PRIMARY KEY, label text, x float8[])

id is the image's position in its IDX file (0-based); x holds the 784 pixels
row by row, scaled to [0, 1] (byte / 255, exact in float8).  --train N and
--test N load the first N images of each split (defaults: 10000 and 10000).
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_idx import CLASSES, load_split  # noqa: E402

FLOAT8_OID = 701
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


class BinaryCopyStream:
    """A file-like object that psycopg2's copy_expert reads: binary COPY rows
    (id bigint, label text, x float8[]) made a chunk of images at a time."""

    def __init__(self, X, y, chunk=2000):
        self.X, self.y, self.chunk = X, y, chunk
        n, d = X.shape
        self.array_head = struct.pack(">iiiii", 1, 0, FLOAT8_OID, d, 1)
        self.labels = [lab.encode() for lab in CLASSES]
        self.parts = self._generate()
        self.buf = b""

    def _generate(self):
        yield COPY_HEADER
        n, d = self.X.shape
        array_len = len(self.array_head) + 12 * d
        elem = np.dtype([("len", ">i4"), ("v", ">f8")])
        for lo in range(0, n, self.chunk):
            hi = min(n, lo + self.chunk)
            vals = np.empty((hi - lo, d), dtype=elem)
            vals["len"] = 8
            vals["v"] = self.X[lo:hi]
            rows = []
            for i in range(lo, hi):
                lab = self.labels[self.y[i]]
                rows.append(struct.pack(">hiqi", 3, 8, i, len(lab)) + lab
                            + struct.pack(">i", array_len) + self.array_head
                            + vals[i - lo].tobytes())
            yield b"".join(rows)
        yield COPY_TRAILER

    def read(self, size=-1):
        while size < 0 or len(self.buf) < size:
            try:
                self.buf += next(self.parts)
            except StopIteration:
                break
        if size < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:size], self.buf[size:]
        return out

    readline = read


def load_table(cur, table, X, y):
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, label text NOT NULL, "
                f"x float8[] NOT NULL)")
    cur.copy_expert(f"COPY {table} (id, label, x) FROM STDIN (FORMAT binary)",
                    BinaryCopyStream(X, y), size=1 << 20)
    cur.execute(f"ANALYZE {table}")


def main():
    ap = argparse.ArgumentParser(description="Load Fashion-MNIST into PostgreSQL.")
    ap.add_argument("--train", type=int, default=10000, help="training images (max 60000)")
    ap.add_argument("--test", type=int, default=10000, help="test images (max 10000)")
    args = ap.parse_args()
    if not (1 <= args.train <= 60000 and 1 <= args.test <= 10000):
        ap.error("--train must be in 1..60000 and --test in 1..10000")

    conn = psycopg2.connect("")
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS fmnist_classes")
    cur.execute("CREATE TABLE fmnist_classes (k int PRIMARY KEY, label text UNIQUE NOT NULL)")
    cur.executemany("INSERT INTO fmnist_classes VALUES (%s, %s)", list(enumerate(CLASSES)))
    for table, split, n in (("fmnist_train", "train", args.train),
                            ("fmnist_test", "test", args.test)):
        t0 = time.time()
        X, y = load_split(split, n)
        load_table(cur, table, X, y)
        conn.commit()
        print(f"  {table:<13} {X.shape[0]:>6} rows x {X.shape[1]} pixels "
              f"({time.time() - t0:.1f} s)", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
