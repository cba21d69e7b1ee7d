#!/usr/bin/env python3
"""Turn the console log of a `make bench` run into results.csv, results.md and bench.svg.

Usage: bench-report.py LOG OUTDIR ACCEL VERSIONS_FILE [FLAVOUR [ICOUNT_LOG [SYSTEM_MAP MODULE_KO [BASELINE_KO]]]]

The guest prints one `BENCH-CSV,NAME,GROUP,PAGES,DEV_NS,KERN_NS,NOTE` line per
workload (nanoseconds per operation; PAGES per operation) and a `BENCH-INFO`
line. With ICOUNT_LOG (the rpm-icount plugin's file, qemu/bench/icount-plugin.c),
each workload's `BENCH-ICOUNT,NAME,SEQ,SCOPE,STAT,DEV_DIV,KERN_DIV` line says
how to read the counted sections of its count phase SEQ: the kernel
instructions per page (or per call) of each side, and their ratio, `iratio`.
bdwgc's gctest runs after the benchmark (qemu/guest/guest-others.sh gc-bench):
one `BENCH-GC,proc|device,RUN,COLLECTIONS,MS,CLEARS,CLEAR_NS,READS,READ_NS`
line per run, MS its total collection time; they make the row
`gc_collections`, the median through the device over the median on /proc
(per run, not per page). The rest, the clear_refs writes and pagemap reads
of the run and what they cost the program (qemu/bench/gc-calls.c),
is printed per side beside it: where the two ways differ. A
`BENCH-GC-FAILED` line fails the report. Its count phase (two more runs each
way, `BENCH-GC-COUNTED` lines, left out of the times) comes with a
`BENCH-ICOUNT,gc_collections,...` line whose divisors are the collections of
those runs: kernel instructions of all vCPUs per collection.
Prints `ratio NAME: X` and `iratio NAME: Y` per workload. Standard library only.

With SYSTEM_MAP and MODULE_KO (the kernel's System.map and the module the guest ran,
whose `.text` address the guest prints as `RPM-BENCH-TEXT current .text=ADDR
_text=ADDR`), the plugin's blocks (`tb PC INSNS` lines after each end marker) are
mapped to symbols and symbols.md lists per counted workload the symbols that
executed the most kernel instructions per page on each side (objdump reads the
module's symbol table); with BASELINE_KO, symbols-baseline.md the same for the
baseline module (`RPM-BENCH-TEXT baseline`).
"""
import bisect
import math
import os
import re
import subprocess
import sys
from xml.sax.saxutils import escape

STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")

# The marker page's offsets (selftests/benchmark/bench.c, qemu/bench/icount-plugin.c).
MARK_SIDE = {0: ("dev", "begin"), 1: ("dev", "end"), 2: ("kern", "begin"), 3: ("kern", "end")}
MARK_COUNT_ON, MARK_COUNT_OFF, MARK_START, MARK_WORKLOAD = 16, 17, 18, 1024


def parse(path):
    """Rows of the current module, rows of the baseline module (if one ran), and the info.

    Each row carries the BENCH-ICOUNT line of its workload, if any, and the index of
    the benchmark's run (a BENCH-INFO line starts one) it belongs to."""
    rows, baseline, info = [], [], {}
    run = -1
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
                             "dev": float(dev), "kern": float(kern), "note": note, "run": run})
            elif line.startswith("BENCH-ICOUNT,"):
                parts = line.split(",")
                if len(parts) != 7:
                    continue
                _, name, seq, scope, stat, ddiv, kdiv = parts
                ic = {"seq": int(seq), "scope": scope, "stat": stat,
                      "div": {"dev": float(ddiv), "kern": float(kdiv)}}
                if name == "gc_collections":
                    # guest-others.sh gc-bench, after the benchmark's last run: the row
                    # is made from all the BENCH-GC lines, below.
                    info["gc_icount"] = ic
                for r in reversed(rows):
                    if r["name"] == name:
                        r["icount"] = ic
                        break
            elif line.startswith("BENCH-INFO "):
                run += 1
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    info[k] = v
            elif line.startswith("RPM-BENCH-TEXT "):
                parts = line.split()
                kv = dict(p.partition("=")[::2] for p in parts[2:])
                info.setdefault("text", {})[parts[1]] = kv
            elif line.startswith("RPM-INFO kernel "):
                info["kernel"] = line[len("RPM-INFO kernel "):]
            elif line.startswith("BENCH-GC,"):
                parts = line.split(",")
                if len(parts) == 9 and parts[1] in ("proc", "device"):
                    info.setdefault("gc", {"proc": [], "device": []})[parts[1]].append(
                        tuple(int(p) for p in parts[3:]))
            elif line.startswith("BENCH-GC-FAILED,"):
                info.setdefault("gc_failed", []).append(line)
    info["bench_runs"] = run + 1
    if info.get("gc") and all(info["gc"].values()):
        rows.append(gc_row(info["gc"]))
        if "gc_icount" in info:
            # Counted after the benchmark's last run, in the plugin's last run.
            rows[-1]["icount"] = info["gc_icount"]
            rows[-1]["run"] = run
    return rows, baseline, info


def gc_row(gc):
    """The gc_collections row: gctest's total collection time per run, the median of
    the runs through the device (dev) and on /proc (kern), in ns."""
    ms = {side: [run[1] for run in runs] for side, runs in gc.items()}
    return {"name": "gc_collections", "group": "gc", "pages": 1, "run": -1,
            "dev": median(ms["device"]) * 1e6, "kern": median(ms["proc"]) * 1e6,
            "note": "bdwgc gctest (Debian libgc1), incremental, soft-dirty: its total collection "
                    f"time per run (ns per run, not per page), median of {len(ms['device'])} "
                    f"runs through librpm_redirect.so and {len(ms['proc'])} on /proc, interleaved; "
                    "counted: kernel instructions of all vCPUs per collection, over 2 more runs "
                    "each way",
            "runs": gc}


FIELDS = ("insns", "mem", "locked")


def parse_icount(path):
    """The plugin's log: per run of the benchmark (MARK_START), its count phases by
    sequence number, each {"dev": [section, ...], "kern": [...]}, a section being what
    the kernel executed between a begin and an end marker: per field (instructions,
    memory accesses, locked instructions), {"all": of all vCPUs, "self": of the vCPU
    that ran the markers, "others": of the rest}, and "lines", the distinct 64-byte
    lines the kernel accessed. Also the marker address, and the instructions counted
    between a count phase's end and the next one's start, when the timed runs run:
    0 unless the plugin's instrumentation outlived a phase."""
    runs, phase, begun = [], None, {}
    off_insns, outside = None, 0
    last = None  # the section the next `tb` lines belong to
    with open(path) as f:
        head = f.readline().split()
        if head[:1] != ["rpm-icount"] or head[1:2] not in (["2"], ["3"]):
            return [], None, 0
        kv = dict(kv.partition("=")[::2] for kv in head[2:])
        marker, nvcpus = kv.get("marker"), int(kv.get("vcpus", "0"))
        for line in f:
            parts = line.split()
            if parts[:1] == ["tb"]:
                if last is not None and len(parts) == 3 and parts[2].isdigit():
                    last["tbs"][int(parts[1], 16)] = int(parts[2])
                continue
            last = None
            if len(parts) != 3 + len(FIELDS) * nvcpus or not all(p.isdigit() for p in parts):
                continue  # a last line cut short by the guest's end
            off, vcpu, lines = int(parts[0]), int(parts[1]), int(parts[2])
            counts = [int(p) for p in parts[3:]]
            insns = sum(counts[0::len(FIELDS)])
            if off == MARK_COUNT_OFF:
                off_insns = insns
            elif off == MARK_COUNT_ON and off_insns is not None:
                outside += insns - off_insns
                off_insns = None
            if off == MARK_START:
                runs.append({})
                phase, begun = None, {}
            elif off >= MARK_WORKLOAD:
                if not runs:
                    runs.append({})
                phase, begun = {"dev": [], "kern": []}, {}
                runs[-1][off - MARK_WORKLOAD] = phase
            elif off == MARK_COUNT_OFF:
                phase = None
            elif off in MARK_SIDE and phase is not None:
                side, what = MARK_SIDE[off]
                if what == "begin":
                    begun[side] = (vcpu, counts)
                elif side in begun:
                    v0, c0 = begun.pop(side)
                    delta = [b - a for a, b in zip(c0, counts)]
                    sec = {"moved": v0 != vcpu, "lines": lines, "tbs": {}}
                    last = sec
                    for i, field in enumerate(FIELDS):
                        per_vcpu = delta[i::len(FIELDS)]
                        total = sum(per_vcpu)
                        sec[field] = {"all": total, "self": per_vcpu[v0],
                                      "others": total - per_vcpu[v0]}
                    phase[side].append(sec)
    return runs, marker, outside


def median(vals):
    v = sorted(vals)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def attach_counts(rows, runs, nruns):
    """Sets r["idev"], r["ikern"] (kernel instructions per page or call) where counted,
    and r["more"]: per side, memory accesses, locked instructions and distinct lines
    per page, from the section whose instruction count is the median one.

    The k-th run of the benchmark in the console is the k-th in the plugin's log,
    counted from the end if one of them has fewer (a run cut short)."""
    for r in rows:
        ic = r.get("icount")
        k = r["run"] - nruns + len(runs)
        if not ic or not 0 <= k < len(runs) or ic["seq"] not in runs[k]:
            continue
        phase = runs[k][ic["seq"]]
        val, more, tbs = {}, {}, {}
        scope = ic["scope"]
        for side in ("dev", "kern"):
            secs = phase[side]
            div = ic["div"][side]
            if not secs or div <= 0:
                break
            if scope != "all" and any(s["moved"] for s in secs):
                print(f"bench-report: {r['name']}: the marking thread changed vCPU in a section",
                      file=sys.stderr)
            if ic["stat"] == "median":
                # The median section by instructions (an odd count of them: that section).
                mid = sorted(secs, key=lambda s: s["insns"][scope])[len(secs) // 2]
                val[side] = median([s["insns"][scope] for s in secs]) / div
                more[side] = {"mem": mid["mem"][scope] / div, "locked": mid["locked"][scope] / div,
                              "lines": mid["lines"] / div}
                tbs[side] = {pc: n / div for pc, n in mid["tbs"].items()}
            else:
                val[side] = sum(s["insns"][scope] for s in secs) / div
                more[side] = {f: sum(s[f][scope] for s in secs) / div for f in ("mem", "locked")}
                more[side]["lines"] = sum(s["lines"] for s in secs) / div
                tbs[side] = {}
                for s in secs:
                    for pc, n in s["tbs"].items():
                        tbs[side][pc] = tbs[side].get(pc, 0) + n / div
        if len(val) == 2:
            r["idev"], r["ikern"] = val["dev"], val["kern"]
            r["iscope"] = scope
            r["more"] = more
            if tbs["dev"] or tbs["kern"]:
                r["tbs"] = tbs


def iratio(r):
    return r["idev"] / r["ikern"] if r.get("ikern") else None


def fmt(v):
    """100 and up without decimals, down to 0.1 with one, below that 3 significant digits
    (scan_max_pages_1's time and count per page of a 16 GiB range)."""
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}" if v >= 0.1 else f"{v:.3g}"


def fmt_opt(v, f=fmt):
    return "" if v is None else f(v)


def write_csv(rows, path):
    with open(path, "w") as f:
        f.write("workload,group,pages_per_op,device_ns_per_op,kernel_ns_per_op,"
                "device_ns_per_page,kernel_ns_per_page,ratio,"
                "device_insns_per_page,kernel_insns_per_page,iratio,count_scope,"
                "device_mem_per_page,kernel_mem_per_page,device_locked_per_page,"
                "kernel_locked_per_page,device_lines_per_page,kernel_lines_per_page\n")
        for r in rows:
            ir = iratio(r)
            more = r.get("more", {})
            extra = ",".join(f"{more[side][f]:.6g}" if more else ""
                             for f in ("mem", "locked", "lines") for side in ("dev", "kern"))
            f.write(f"{r['name']},{r['group']},{r['pages']},{r['dev']:.0f},{r['kern']:.0f},"
                    f"{r['dev'] / r['pages']:.3f},{r['kern'] / r['pages']:.3f},"
                    f"{r['dev'] / r['kern']:.3f},"
                    f"{fmt_opt(r.get('idev'), lambda v: f'{v:.6g}')},"
                    f"{fmt_opt(r.get('ikern'), lambda v: f'{v:.6g}')},"
                    f"{fmt_opt(ir, lambda v: f'{v:.3f}')},{r.get('iscope', '')},{extra}\n")


def write_md(rows, baseline, info, accel, versions, path, flavour="perf"):
    before = {r["name"]: (r["dev"] / r["kern"], iratio(r)) for r in baseline}
    counted = any(iratio(r) is not None for r in rows)
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
        f.write("ratio = device time / kernel time (below 1.00: the device is faster).\n")
        if counted:
            f.write(f"Counting was on only in the count phases: "
                    f"{info.get('outside', '?')} kernel instructions were counted between them, "
                    f"where the timed runs ran.\n")
            f.write(f"iratio = device / kernel in guest instructions executed at kernel addresses "
                    f"(the rpm-icount TCG plugin), per page (per call for the per-call rows), "
                    f"median of {info.get('count_ops', '?')} untimed operations per side run "
                    f"after the timed ones; those of both vCPUs, except where the row's scope "
                    f"says: `self`, the measuring thread's vCPU; `others`, the writer's vCPU, "
                    f"totalled over its windows, per page it wrote; `gc_collections`: all "
                    f"vCPUs over whole runs of gctest, per collection.\n")
        else:
            f.write("No instruction counts (no plugin log: BENCH_COUNT=0, or KVM).\n")
        f.write("\n")
        cols = ["workload", "device ns/page", "kernel ns/page", "ratio"]
        if counted:
            cols += ["device insns/page", "kernel insns/page", "iratio", "scope"]
        if before:
            cols += ["baseline ratio"] + (["baseline iratio"] if counted else [])
        cols.append("what")
        f.write("| " + " | ".join(cols) + " |\n")
        f.write("| --- |" + " ---: |" * (len(cols) - 2) + " --- |\n")
        for r in rows:
            cells = [r["name"], fmt(r["dev"] / r["pages"]), fmt(r["kern"] / r["pages"]),
                     f"{r['dev'] / r['kern']:.2f}"]
            if counted:
                cells += [fmt_opt(r.get("idev")), fmt_opt(r.get("ikern")),
                          fmt_opt(iratio(r), lambda v: f"{v:.2f}"), r.get("iscope", "")]
            if before:
                old = before.get(r["name"], (None, None))
                cells.append(fmt_opt(old[0], lambda v: f"{v:.2f}"))
                if counted:
                    cells.append(fmt_opt(old[1], lambda v: f"{v:.2f}"))
            cells.append(r["note"])
            f.write("| " + " | ".join(cells) + " |\n")
        if counted:
            write_more(f, rows)


def write_more(f, rows):
    """The second table: what the kernel did per page besides instructions."""
    f.write("\nWhat a time sees and an instruction count does not, per page (per call for "
            "the per-call rows), device / kernel, from the same sections (the median one by "
            "instructions): memory accesses (loads and stores as QEMU emulates them), "
            "locked instructions (lock prefix, xchg with memory: tens of cycles each on a "
            "real CPU), distinct 64-byte lines the kernel accessed on any vCPU (what a "
            "cache-miss-bound loop pays for). `ratio` and `iratio` repeated.\n\n")
    f.write("| workload | ratio | iratio | mem accesses | mem ratio | locked insns | "
            "distinct lines | lines ratio |\n")
    f.write("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")

    def pair(m, field):
        return f"{fmt(m['dev'][field])} / {fmt(m['kern'][field])}"

    def ratio(m, field):
        return f"{m['dev'][field] / m['kern'][field]:.2f}" if m["kern"][field] else ""

    for r in rows:
        m = r.get("more")
        if not m:
            continue
        locked = f"{m['dev']['locked']:.3g} / {m['kern']['locked']:.3g}"
        f.write(f"| {r['name']} | {r['dev'] / r['kern']:.2f} | {iratio(r):.2f} | "
                f"{pair(m, 'mem')} | {ratio(m, 'mem')} | {locked} | {pair(m, 'lines')} | "
                f"{ratio(m, 'lines')} |\n")


class Symbols:
    """Address-sorted symbols; `lookup` gives the one an address falls into."""

    def __init__(self):
        self.syms = []  # (start, end or None, name)

    def add(self, start, name, size=None):
        self.syms.append((start, start + size if size else None, name))

    def finish(self):
        self.syms.sort()
        self.starts = [s[0] for s in self.syms]

    def lookup(self, pc):
        i = bisect.bisect_right(self.starts, pc) - 1
        if i < 0:
            return None
        start, end, name = self.syms[i]
        if end is not None and pc >= end:
            return None
        return name


def kernel_symbols(system_map, slide):
    """The kernel's text symbols from System.map, moved by `slide` (KASLR; 0 without)."""
    syms = Symbols()
    with open(system_map) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW":
                syms.add(int(parts[0], 16) + slide, parts[2])
    syms.finish()
    return syms


def short_rust(name):
    """A demangled Rust name without the crate's path prefixes and generic arguments."""
    name = name.replace("rust_pagemap::walk::", "").replace("rust_pagemap::", "")
    out, depth = [], 0
    for i, c in enumerate(name):
        # Generic arguments `::<...>` and `<T as Trait>` are kept to their first level only.
        if c == "<":
            depth += 1
            if depth == 2:
                out.append("..")
        elif c == ">" and depth and not name[i - 1] == "-":
            depth -= 1
            if depth == 1:
                continue
        if depth < 2:
            out.append(c)
    return "".join(out)


def module_symbols(ko, text_addr, label="rust_pagemap"):
    """The module's function symbols in .text (objdump's table, demangled), at the
    address the guest loaded its .text at."""
    syms = Symbols()
    try:
        out = subprocess.run(["objdump", "-t", "-C", "-j", ".text", ko], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"bench-report: objdump -t {ko}: {e}", file=sys.stderr)
        return None
    sym = re.compile(r"^([0-9a-f]{16}) (.{7}) \.text\s+([0-9a-f]+) (.*)$")
    for line in out.splitlines():
        m = sym.match(line)
        if m and "F" in m.group(2):
            syms.add(text_addr + int(m.group(1), 16), f"[{label}] {short_rust(m.group(4))}",
                     int(m.group(3), 16) or None)
    syms.finish()
    return syms


TOP_SYMBOLS = 12


def write_symbols(rows, info, system_map, module_ko, path, which="current"):
    """symbols.md: per counted workload, the symbols that executed the most kernel
    instructions per page on each side, from the plugin's blocks of the same sections as
    the row's figure. `which`: the module the rows are of (`current`, or `baseline` for
    symbols-baseline.md). Returns whether it was written."""
    text = info.get("text", {}).get(which, {})
    try:
        mod_text = int(text.get(".text", ""), 16)
        guest_text = int(text.get("_text", ""), 16)
    except ValueError:
        print(f"bench-report: no RPM-BENCH-TEXT line with the {which} module's .text: "
              f"no {os.path.basename(path)}", file=sys.stderr)
        return False
    kern = None
    with open(system_map) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "_text":
                kern = int(parts[0], 16)
                break
    if kern is None:
        return False
    ksyms = kernel_symbols(system_map, guest_text - kern)
    msyms = module_symbols(module_ko, mod_text)
    if msyms is None:
        return False

    def name(pc):
        return msyms.lookup(pc) or ksyms.lookup(pc) or f"?{pc:x}"

    with open(path, "w") as f:
        f.write("# Where the kernel instructions go, by symbol"
                f"{' (the baseline module)' if which == 'baseline' else ''}\n\n")
        f.write("Per workload and side, the symbols whose code executed the most kernel "
                "instructions per page (per call for the per-call rows), from the rpm-icount "
                "plugin's per-block counts of the section the row's figure comes from (the "
                "median one; all of them, summed, for the writer rows), on both vCPUs. "
                "`[rust_pagemap]` marks the module's functions (generic arguments shortened); "
                "the rest is the kernel's, by System.map. `share`: of the side's total. "
                "A block is counted for the symbol it starts in.\n")
        for r in rows:
            tbs = r.get("tbs")
            if not tbs:
                continue
            f.write(f"\n## {r['name']}\n\n")
            unit = "collection" if r["name"] == "gc_collections" else "page"
            f.write(f"kernel instructions per {unit}: device {fmt(r['idev'])}, kernel "
                    f"{fmt(r['ikern'])}, iratio {iratio(r):.2f}\n\n")
            cols = []
            for side in ("dev", "kern"):
                by = {}
                for pc, n in tbs.get(side, {}).items():
                    k = name(pc)
                    by[k] = by.get(k, 0) + n
                total = sum(by.values()) or 1
                top = sorted(by.items(), key=lambda kv: -kv[1])[:TOP_SYMBOLS]
                rest = total - sum(n for _, n in top)
                cells = [(k, n, n / total) for k, n in top]
                if rest > 0:
                    cells.append((f"({len(by) - len(top)} more)", rest, rest / total))
                cols.append(cells)
            f.write(f"| device: symbol | insns/{unit} | share | kernel: symbol | insns/{unit} "
                    "| share |\n")
            f.write("| --- | ---: | ---: | --- | ---: | ---: |\n")
            for i in range(max(len(c) for c in cols)):
                cells = []
                for c in cols:
                    if i < len(c):
                        k, n, sh = c[i]
                        cells += [f"`{k}`", fmt(n), f"{100 * sh:.0f}%"]
                    else:
                        cells += ["", "", ""]
                f.write("| " + " | ".join(cells) + " |\n")
    return True


def bar_panel(out, rows, top, w, left, values, title, unit):
    """Two log-scale bars per row (device blue, kernel orange) and their ratio at the right.

    `values(r)` gives (device, kernel) per page; rows where it gives None are left out.
    Returns the y below the panel."""
    bar_h = 18
    pairs = [(r, values(r)) for r in rows]
    pairs = [(r, v) for r, v in pairs if v is not None]
    out.append(f'<text x="{w / 2}" y="{top - 36}" text-anchor="middle" font-size="16">'
               f'{escape(title)}</text>')
    h = len(pairs) * (2 * bar_h + 8)
    vals = [v for _, dk in pairs for v in dk if v > 0]
    if not vals:
        return top + h
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    span = max(math.log10(hi / lo), 1)
    plot_w = w - left - 80

    def x(v):
        return left + plot_w * math.log10(max(v, lo) / lo) / span

    d = lo
    while d <= hi * 1.0001:
        out.append(f'<line x1="{x(d):.1f}" y1="{top - 5}" x2="{x(d):.1f}" y2="{top + h}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{x(d):.1f}" y="{top - 8}" text-anchor="middle">{d:g}</text>')
        d *= 10
    out.append(f'<text x="{left - 14}" y="{top - 8}" text-anchor="end">{escape(unit)}</text>')
    y = top
    for r, (dv, kv) in pairs:
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
    return y


def svg(rows, path):
    """Time per page and, where counted, kernel instructions per page of every workload but
    the sweep; then the sweep's time per page against the mapping size."""
    main = [r for r in rows if r["group"] != "sweep"]
    sweep = [r for r in rows if r["group"] == "sweep"]
    counted = [r for r in rows if r.get("ikern")]
    w, left = 980, 230
    per_row = 2 * 18 + 8
    top1 = 60
    top_i = top1 + len(main) * per_row + 90
    top2 = (top_i + len(counted) * per_row + 90) if counted else top_i
    h2 = 300
    height = top2 + h2 + 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    bar_panel(out, main, top1, w, left, lambda r: (r["dev"] / r["pages"], r["kern"] / r["pages"]),
              "ns per page: /dev/rust_pagemap (blue) vs the kernel (orange), log scale; "
              "right: ratio", "ns/page")
    if counted:
        bar_panel(out, counted, top_i, w, left,
                  lambda r: (r["idev"], r["ikern"]) if r.get("ikern") else None,
                  "kernel instructions per page (per call: pread8), device (blue) vs the kernel "
                  "(orange), log scale; right: iratio", "insns/page")
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
    icount_log = argv[5] if len(argv) > 5 else None
    system_map = argv[6] if len(argv) > 6 else None
    module_ko = argv[7] if len(argv) > 7 else None
    baseline_ko = argv[8] if len(argv) > 8 else None
    rows, baseline, info = parse(log)
    if not rows:
        print("bench-report: no BENCH-CSV lines in the log", file=sys.stderr)
        return 1
    for line in info.get("gc_failed", []):
        print(f"bench-report: a gctest run failed: {line}", file=sys.stderr)
    gc_lines = []
    for r in rows:
        if r["group"] == "gc":
            for side in ("proc", "device"):
                runs = r["runs"][side]
                gc_lines.append(f"gc_collections {side}: " + ", ".join(
                    f"{run[0]} collections in {run[1]} ms" for run in runs))
                gc_lines.append(f"gc_calls {side}: median per run: {median([x[2] for x in runs]):.0f} "
                      f"clears, {median([x[3] for x in runs]) / 1e6:.1f} ms "
                      f"({median([x[3] / max(x[2], 1) for x in runs]) / 1e3:.1f} us each); "
                      f"{median([x[4] for x in runs]):.0f} pagemap reads, "
                      f"{median([x[5] for x in runs]) / 1e6:.1f} ms "
                      f"({median([x[5] / max(x[4], 1) for x in runs]) / 1e3:.1f} us each)")
    for line in gc_lines:
        print(line)
    if icount_log and os.path.exists(icount_log):
        runs, marker, info["outside"] = parse_icount(icount_log)
        if marker is None or info.get("marker") in (None, "0") or \
                int(marker, 16) != int(info["marker"], 16):
            print(f"bench-report: {icount_log}: no counts for the marker the guest used "
                  f"({marker} in the log, {info.get('marker')} in the guest)", file=sys.stderr)
        else:
            attach_counts(rows + baseline, runs, info["bench_runs"])
    for label, rs in (("baseline module", baseline), ("", rows)):
        if rs and label:
            print(f"{label}:")
        for r in rs:
            print(f"ratio {r['name']}: {r['dev'] / r['kern']:.2f}")
            ir = iratio(r)
            if ir is not None:
                print(f"iratio {r['name']}: {ir:.2f}")
    versions = []
    if os.path.exists(versions_file):
        with open(versions_file) as f:
            versions = [l.strip() for l in f if ":" in l and not l.startswith("versions")]
    write_csv(rows, os.path.join(outdir, "results.csv"))
    write_md(rows, baseline, info, accel, versions, os.path.join(outdir, "results.md"), flavour)
    if baseline:
        write_csv(baseline, os.path.join(outdir, "baseline.csv"))
    if gc_lines:
        with open(os.path.join(outdir, "results.md"), "a") as f:
            f.write("\nbdwgc's gctest, each run, and its clear_refs writes and pagemap reads "
                    "(libgc_calls.so):\n\n" + "".join(f"    {line}\n" for line in gc_lines))
    svg(rows, os.path.join(outdir, "bench.svg"))
    if system_map and module_ko and any(r.get("tbs") for r in rows):
        if write_symbols(rows, info, system_map, module_ko, os.path.join(outdir, "symbols.md")):
            print(f"symbols: {os.path.join(outdir, 'symbols.md')}")
    if system_map and baseline_ko and any(r.get("tbs") for r in baseline):
        out = os.path.join(outdir, "symbols-baseline.md")
        if write_symbols(baseline, info, system_map, baseline_ko, out, "baseline"):
            print(f"symbols of the baseline: {out}")
    return 1 if info.get("gc_failed") or (info.get("gc") and not all(info["gc"].values())) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
