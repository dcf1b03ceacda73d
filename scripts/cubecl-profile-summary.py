#!/usr/bin/env python3
"""Sums a cubecl kernel profile by kernel: where the GPU's time goes.

cubecl (burn-wgpu's compiler and runtime) times every kernel it launches on the device when a
`cubecl.toml` in the working directory asks for it:

    [profiling.logger]
    level = "basic"
    file = "prof.log"
    append = false

and writes one line per launch, `| 1.71ms | KernelName_hash` (scripts/device-profile.sh does
this). Each launch then waits for the device, so the total is not a frame time: it says which
kernels take the time and how many launches a frame makes.

    python3 scripts/cubecl-profile-summary.py prof.log [--frames N] [--top K]

--frames N divides counts and times by N (launches and milliseconds per frame).

cubecl's own roofline probes (`ComputeDirectThroughput`, `MemoryDirectThroughput`,
`LaunchOverhead`: ~18-ms launches and hundreds of 4-µs ones, ~2 s in all) run where its cache
(`target/environment` of the outermost Cargo project above the working directory, else the
user's cache directory) has no measurement of this device yet; they are not the model's work, so
they are counted apart and left out of the tables.
"""
import argparse
import re
import sys
import zlib
from collections import defaultdict

PROBES = ("ComputeDirectThroughput", "MemoryDirectThroughput", "LaunchOverhead")
UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
DURATION = re.compile(r"^([0-9.]+)(ns|µs|us|ms|s)$")


def family(name):
    """The kernel's kind: its first two name fields without cubecl's hash suffix
    (`FullKernel_33231f57` -> `FullKernel`; a matmul's long generic name -> `MatmulEntry |
    FusedMatmulArgs`)."""
    return re.sub(r"_[0-9a-f]{8}\b", "", " | ".join(name.split(" | ")[:2]))


def short(name):
    """A kernel's name for a table row: its kind and a digest of the whole name."""
    if len(name) <= 60:
        return name
    return f"{family(name)} #{zlib.crc32(name.encode()):08x}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--frames", type=float, default=1.0)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    by_kernel = defaultdict(lambda: [0, 0.0])
    by_family = defaultdict(lambda: [0, 0.0])
    unmeasured = 0
    probes = [0, 0.0]
    with open(a.log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("| "):
                continue
            fields = [x.strip() for x in line.strip().strip("|").split("|")]
            if fields and fields[0] == "not measured":
                unmeasured += 1
                continue
            m = DURATION.match(fields[0]) if fields else None
            if not m or len(fields) < 2:
                continue  # cubecl's own summary tables
            ms = float(m.group(1)) * UNITS[m.group(2)]
            name = " | ".join(fields[1:])
            if family(name) in PROBES:
                probes[0] += 1
                probes[1] += ms
                continue
            for table, key in ((by_kernel, name), (by_family, family(name))):
                table[key][0] += 1
                table[key][1] += ms
    total = sum(v[1] for v in by_kernel.values())
    launches = sum(v[0] for v in by_kernel.values())
    n = a.frames
    print(f"{launches / n:.1f} launches and {total / n:.2f} ms of kernel time per frame "
          f"(over {n:g} frames; {unmeasured} launches not measured)")
    if probes[0]:
        print(f"left out: cubecl's throughput probes, {probes[0]} launches and {probes[1]:.0f} ms "
              f"in all")
    for title, table in (("by kind", by_family), ("by kernel", by_kernel)):
        print(f"\n| {title} | launches/frame | ms/frame | share | µs/launch |")
        print("|---|---|---|---|---|")
        rows = sorted(table.items(), key=lambda kv: -kv[1][1])
        for name, (count, ms) in rows[: a.top]:
            print(f"| {short(name)} | {count / n:.1f} | {ms / n:.3f} | {100 * ms / max(total, 1e-12):.1f}% "
                  f"| {1000 * ms / count:.1f} |")
        if len(rows) > a.top:
            rest = rows[a.top:]
            print(f"| ({len(rest)} more) | {sum(r[1][0] for r in rest) / n:.1f} | "
                  f"{sum(r[1][1] for r in rest) / n:.3f} | "
                  f"{100 * sum(r[1][1] for r in rest) / max(total, 1e-12):.1f}% | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
