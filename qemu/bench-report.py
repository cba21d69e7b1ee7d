#!/usr/bin/env python3
"""Turn the console log of a `make bench` run into results.csv, results.md and bench.svg.

Usage: bench-report.py LOG OUTDIR ACCEL VERSIONS_FILE [FLAVOUR]

The guest prints one `BENCH-CSV,NAME,GROUP,PAGES,DEV_NS,KERN_NS,NOTE` line per
workload (nanoseconds per operation; PAGES per operation) and a `BENCH-INFO`
line. Standard library only.
"""
import math
import os
import re
import sys
from xml.sax.saxutils import escape

STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def parse(path):
    """Rows of the current module, rows of the baseline module (if one ran), and the info."""
    rows, baseline, info = [], [], {}
    with open(path, errors="replace") as f:
        for raw in f:
            line = STAMP.sub("", raw.strip().replace("\r", ""))
            if line == "RPM-BENCH-MODULE baseline":
                rows = baseline
            elif line == "RPM-BENCH-MODULE current":
                rows = []
            elif line.startswith("BENCH-CSV,"):
                parts = line.split(",", 6)
                if len(parts) < 7:
                    continue
                _, name, group, pages, dev, kern, note = parts
                rows.append({"name": name, "group": group, "pages": int(pages),
                             "dev": float(dev), "kern": float(kern), "note": note})
            elif line.startswith("BENCH-INFO "):
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    info[k] = v
            elif line.startswith("RPM-INFO kernel "):
                info["kernel"] = line[len("RPM-INFO kernel "):]
    return rows, baseline, info


def fmt(ns):
    return f"{ns:.1f}" if ns < 100 else f"{ns:.0f}"


def write_csv(rows, path):
    with open(path, "w") as f:
        f.write("workload,group,pages_per_op,device_ns_per_op,kernel_ns_per_op,"
                "device_ns_per_page,kernel_ns_per_page,ratio\n")
        for r in rows:
            f.write(f"{r['name']},{r['group']},{r['pages']},{r['dev']:.0f},{r['kern']:.0f},"
                    f"{r['dev'] / r['pages']:.3f},{r['kern'] / r['pages']:.3f},"
                    f"{r['dev'] / r['kern']:.3f}\n")


def write_md(rows, baseline, info, accel, versions, path, flavour="perf"):
    before = {r["name"]: r["dev"] / r["kern"] for r in baseline}
    with open(path, "w") as f:
        f.write("# rust_pagemap benchmark\n\n")
        f.write(f"- accelerator: {accel}, {info.get('cpus', '?')} guest CPUs, "
                f"clocksource `{info.get('clocksource', '?')}`\n")
        f.write(f"- guest kernel: {info.get('kernel', '?')} ({flavour} flavour)\n")
        for v in versions:
            f.write(f"- {v}\n")
        f.write(f"- sizes (MiB): dense {info.get('dense_mib')}, sweep up to "
                f"{info.get('sweep_max_mib')}, clears {info.get('clear_mib')}; each figure the "
                f"median of {info.get('runs')} runs of >= {info.get('min_run_ms')} ms, device and "
                f"kernel interleaved\n\n")
        f.write("ratio = device time / kernel time (below 1.00: the device is faster).\n\n")
        extra = " baseline ratio |" if before else ""
        f.write(f"| workload | device ns/page | kernel ns/page | ratio |{extra} what |\n")
        f.write("| --- | ---: | ---: | ---: |" + (" ---: |" if before else "") + " --- |\n")
        for r in rows:
            old = f" {before[r['name']]:.2f} |" if r["name"] in before else (" |" if before else "")
            f.write(f"| {r['name']} | {fmt(r['dev'] / r['pages'])} | {fmt(r['kern'] / r['pages'])} "
                    f"| {r['dev'] / r['kern']:.2f} |{old} {r['note']} |\n")


def svg(rows, path):
    main = [r for r in rows if r["group"] != "sweep"]
    sweep = [r for r in rows if r["group"] == "sweep"]
    w, bar_h, left = 980, 18, 230
    top1 = 60
    h1 = len(main) * (2 * bar_h + 8)
    top2 = top1 + h1 + 90
    h2 = 300
    height = top2 + h2 + 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{w / 2}" y="24" text-anchor="middle" font-size="16">'
           'ns per page: /dev/rust_pagemap (blue) vs the kernel (orange), log scale</text>']
    vals = [v for r in main for v in (r["dev"] / r["pages"], r["kern"] / r["pages"]) if v > 0]
    if vals:
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        span = max(math.log10(hi / lo), 1)
        plot_w = w - left - 80

        def x(v):
            return left + plot_w * math.log10(max(v, lo) / lo) / span

        d = lo
        while d <= hi * 1.0001:
            out.append(f'<line x1="{x(d):.1f}" y1="{top1 - 5}" x2="{x(d):.1f}" y2="{top1 + h1}" '
                       'stroke="#ddd"/>')
            out.append(f'<text x="{x(d):.1f}" y="{top1 - 8}" text-anchor="middle">{d:g}</text>')
            d *= 10
        y = top1
        for r in main:
            dv, kv = r["dev"] / r["pages"], r["kern"] / r["pages"]
            out.append(f'<text x="{left - 6}" y="{y + bar_h + 4}" text-anchor="end">'
                       f'{escape(r["name"])}</text>')
            for v, color in ((dv, "#1f77b4"), (kv, "#ff7f0e")):
                out.append(f'<rect x="{left}" y="{y}" width="{x(v) - left:.1f}" '
                           f'height="{bar_h - 2}" fill="{color}"/>')
                out.append(f'<text x="{x(v) + 4:.1f}" y="{y + bar_h - 5}">{fmt(v)}</text>')
                y += bar_h
            out.append(f'<text x="{w - 8}" y="{y - bar_h + 4}" text-anchor="end">'
                       f'{dv / kv:.2f}</text>')
            y += 8
    out.append(f'<text x="{w / 2}" y="{top2 - 30}" text-anchor="middle" font-size="16">'
               'dense 4 KiB read: ns per page against mapping size</text>')
    if sweep:
        sizes = [r["pages"] * 4096 / 2**20 for r in sweep]
        vals = [v for r in sweep for v in (r["dev"] / r["pages"], r["kern"] / r["pages"])]
        vmax = max(vals) * 1.15
        plot_l, plot_w = 90, w - 180
        smin, smax = math.log2(min(sizes)), math.log2(max(sizes))
        sspan = max(smax - smin, 1)

        def sx(s):
            return plot_l + plot_w * (math.log2(s) - smin) / sspan

        def sy(v):
            return top2 + h2 - h2 * v / vmax

        out.append(f'<line x1="{plot_l}" y1="{top2 + h2}" x2="{plot_l + plot_w}" '
                   f'y2="{top2 + h2}" stroke="black"/>')
        out.append(f'<line x1="{plot_l}" y1="{top2}" x2="{plot_l}" y2="{top2 + h2}" stroke="black"/>')
        for i in range(5):
            v = vmax * i / 4
            out.append(f'<text x="{plot_l - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
            out.append(f'<line x1="{plot_l}" y1="{sy(v):.1f}" x2="{plot_l + plot_w}" '
                       f'y2="{sy(v):.1f}" stroke="#eee"/>')
        for s in sizes:
            label = f"{s:g} MiB" if s < 1024 else f"{s / 1024:g} GiB"
            out.append(f'<text x="{sx(s):.1f}" y="{top2 + h2 + 18}" text-anchor="middle">{label}</text>')
        for key, color, name in (("dev", "#1f77b4", "device"), ("kern", "#ff7f0e", "kernel")):
            pts = " ".join(f"{sx(s):.1f},{sy(r[key] / r['pages']):.1f}" for s, r in zip(sizes, sweep))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
            for s, r in zip(sizes, sweep):
                out.append(f'<circle cx="{sx(s):.1f}" cy="{sy(r[key] / r["pages"]):.1f}" r="3" '
                           f'fill="{color}"/>')
        out.append(f'<text x="{plot_l + plot_w - 120}" y="{top2 + 14}" fill="#1f77b4">device</text>')
        out.append(f'<text x="{plot_l + plot_w - 120}" y="{top2 + 30}" fill="#ff7f0e">kernel</text>')
        out.append(f'<text x="20" y="{top2 + h2 / 2}" transform="rotate(-90 20 {top2 + h2 / 2})" '
                   'text-anchor="middle">ns/page</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main(argv):
    log, outdir, accel, versions_file = argv[:4]
    flavour = argv[4] if len(argv) > 4 else "perf"
    rows, baseline, info = parse(log)
    if not rows:
        print("bench-report: no BENCH-CSV lines in the log", file=sys.stderr)
        return 1
    versions = []
    if os.path.exists(versions_file):
        with open(versions_file) as f:
            versions = [l.strip() for l in f if ":" in l and not l.startswith("versions")]
    write_csv(rows, os.path.join(outdir, "results.csv"))
    write_md(rows, baseline, info, accel, versions, os.path.join(outdir, "results.md"), flavour)
    if baseline:
        write_csv(baseline, os.path.join(outdir, "baseline.csv"))
    svg(rows, os.path.join(outdir, "bench.svg"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
