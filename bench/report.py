"""Markdown table from a pytest-benchmark JSON file written by this suite.

    python bench/report.py [bench/results/latest.json] [-o table.md]

One row per (instance, solver): the median time of the timed call, that time in units of one
numpy ``S @ w`` at the same n, the ratio to microalloc's median (check_psd=False and True; > 1
means the peer is slower), and the accuracy of the answer against the reference objective. One
yardstick row per n gives the median time of ``S @ w``. A second table describes the instances.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

MA_NOPSD = "microalloc"  # the default call (active set, check_psd=True, verdict remembered)
MA_PSD = "microalloc(check_psd=False)"
MA_COV = "microalloc(Covariance)"  # validated once, outside the timed calls
YARDSTICK = "numpy S @ w"
FACTOR_KINDS = ("factor", "factor_yardstick", "factor_batch", "factor_frontier", "factor_erc")


def fmt_time(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b:
        return "—"
    r = a / b
    return f"{r:.3g}×" if r < 100 else f"{r:,.0f}×"


def fmt_iqr(median: float | None, iqr: float | None) -> str:
    if not median or iqr is None:
        return "—"
    return f"{100 * iqr / median:.0f}%"


def fmt_sci(v, signed: bool = False) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    return f"{v:+.1e}" if signed else f"{v:.1e}"


def load(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def group(data: dict) -> tuple[dict, dict]:
    """(n, cap, cov) -> solver -> benchmark record, and n -> (median, iqr) of the S @ w yardstick."""
    rows = defaultdict(dict)
    yard = {}
    for b in data["benchmarks"]:
        ei = b.get("extra_info", {})
        if ei.get("yardstick"):
            yard[ei["n"]] = (b["stats"]["median"], b["stats"]["iqr"])
            continue
        if "solver" not in ei or "kind" in ei:  # warm / batch / validation: see extras()
            continue
        rows[(ei["n"], ei["cap"], ei["cov_type"])][ei["solver"]] = b
    return rows, yard


def summary(data: dict) -> str:
    """One row per instance: microalloc, the fastest peer and cvxpy, as ratios (the README table)."""
    rows, yard = group(data)
    out = [
        "| n | cap | cov | numpy S@w | microalloc (array) | microalloc (Covariance) | fastest peer | peer / array | peer / Covariance | cvxpy / array | all within 1e-9 |",
        "|---:|---:|:---|---:|---:|---:|:---|---:|---:|---:|:---:|",
    ]
    order = {"factor": 0, "sample": 1}
    for key in sorted(rows, key=lambda k: (k[0], -k[1], order.get(k[2], 9), k[2])):
        n, cap, cov = key
        sv = rows[key]
        med = {s: b["stats"]["median"] for s, b in sv.items()}
        peers = [s for s in sv if not s.startswith("microalloc")]
        best = min(peers, key=med.get)
        ok = all(b["extra_info"].get("meets_target") for b in sv.values())
        out.append(
            f"| {n} | {'none' if cap >= 1 else f'{cap:g}'} | {cov} | {fmt_time(yard.get(n, (None,))[0])} "
            f"| {fmt_time(med.get(MA_NOPSD))} | {fmt_time(med.get(MA_COV))} | {best} {fmt_time(med[best])} "
            f"| {fmt_ratio(med[best], med.get(MA_NOPSD))} | {fmt_ratio(med[best], med.get(MA_COV))} "
            f"| {fmt_ratio(med.get('cvxpy'), med.get(MA_NOPSD))} | {'✓' if ok else '✗'} |"
        )
    return "\n".join(out) + "\n"


def extras(data: dict) -> str:
    """Warm re-solve, batch and validation benchmarks: median per (group, solver)."""
    out = ["| group | what | median | iterations |", "|:---|:---|---:|---:|"]
    for b in sorted(data["benchmarks"], key=lambda b: (b["group"] or "", b["stats"]["median"])):
        ei = b.get("extra_info", {})
        if "kind" not in ei or ei["kind"] in FACTOR_KINDS:
            continue
        out.append(f"| {b['group']} | {ei['solver']} | {fmt_time(b['stats']['median'])} | {ei.get('iterations', '')} |")
    return "\n".join(out) + "\n"


def _fastest_peer(records: dict, per: dict) -> float | None:
    peers = [per[s] for s in records if not s.startswith("microalloc") and per.get(s)]
    return min(peers) if peers else None


def fmt_mib(v) -> str:
    return "—" if v is None else f"{v:,.1f} MiB"


def factor_tables(data: dict) -> str:
    """The factor-model benchmarks: single solves per (n, problem), then batch, frontier and ERC."""
    benches = [b for b in data["benchmarks"] if b.get("extra_info", {}).get("kind") in FACTOR_KINDS]
    if not benches:
        return ""
    xt = {b["extra_info"]["n"]: b["stats"]["median"] for b in benches if b["extra_info"]["kind"] == "factor_yardstick"}
    solves = defaultdict(dict)
    others = defaultdict(dict)
    for b in benches:
        ei = b["extra_info"]
        if ei["kind"] == "factor":
            solves[(ei["n"], ei["problem"])][ei["solver"]] = b
        elif ei["kind"] != "factor_yardstick":
            others[b["group"]][ei["solver"]] = b
    out = [
        "Factor-model covariance S = X F X' + diag(d), long-only, cap 5% (test_bench_factor.py). passes over X: "
        "median / median of one numpy X.T @ x on one BLAS thread at that n (the yardstick rows). vs fastest peer: median / the "
        "fastest non-microalloc median of the instance. peak memory: RSS high-water mark of one solve above the data, "
        "in a fresh process.",
        "",
        "| n | k | problem | solver | median | passes over X | vs fastest peer | peak memory | iters | status "
        "| rel. obj. gap | max viol. | ≤1e-9? |",
        "|---:|---:|:---|:---|---:|---:|---:|---:|---:|:---|---:|---:|:---:|",
    ]
    for n, problem in sorted(solves, key=lambda k: (k[0], k[1] != "mv")):
        recs = solves[(n, problem)]
        med = {s: b["stats"]["median"] for s, b in recs.items()}
        fastest = _fastest_peer(recs, med)
        if n in xt and problem == "mv":
            out.append(f"| {n} | | | *numpy X.T @ x, 1 thread (yardstick)* | {fmt_time(xt[n])} | 1 | | | | | | | |")
        for s in sorted(recs, key=lambda s: (not s.startswith("microalloc"), med[s])):
            ei = recs[s]["extra_info"]
            label = f"cvxpy → {ei['cvxpy_solver']}" if s == "cvxpy" and ei.get("cvxpy_solver") else s
            ok = ei.get("meets_target")
            passes = med[s] / xt[n] if n in xt else ei.get("passes_over_X")
            out.append(
                f"| {n} | {ei.get('k', '?')} | {problem} | {label} | {fmt_time(med[s])} "
                f"| {'—' if passes is None else f'{passes:,.0f}'} | {fmt_ratio(med[s], fastest)} "
                f"| {fmt_mib(ei.get('peak_memory_mib'))} | {ei.get('iterations', '—')} "
                f"| {str(ei.get('status', '?')).split(' via ')[0]} | {fmt_sci(ei.get('rel_obj_gap'), True)} "
                f"| {fmt_sci(ei.get('max_violation'))} | {'✓' if ok else ('**✗**' if ok is not None else '?')} |"
            )
    if others:
        out += [
            "",
            "| what | solver | median per call | problems per call | per problem | passes over X per problem "
            "| per problem vs fastest peer | turning points | checked rel. gap / budget error |",
            "|:---|:---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for grp in sorted(others):
            recs = others[grp]
            per = {s: b["stats"]["median"] / b["extra_info"].get("m", 1) for s, b in recs.items()}
            fastest = _fastest_peer(recs, per)
            for s in sorted(recs, key=per.get):
                b = recs[s]
                ei = b["extra_info"]
                passes = per[s] / xt[ei["n"]] if ei.get("n") in xt else ei.get("passes_over_X")
                check = ei.get("max_rel_obj_gap", ei.get("max_budget_error"))
                out.append(
                    f"| {grp} | {s} | {fmt_time(b['stats']['median'])} | {ei.get('m', 1)} | {fmt_time(per[s])} "
                    f"| {'—' if passes is None else f'{passes:,.0f}'} | {fmt_ratio(per[s], fastest)} "
                    f"| {ei.get('turning_points', '—')} | {fmt_sci(check)} |"
                )
    return "\n".join(out) + "\n"


def machine_line(data: dict) -> str:
    mi, ci = data.get("machine_info", {}), data.get("commit_info", {})
    cpu = mi.get("cpu", {})
    return (
        f"Machine: {cpu.get('brand_raw', mi.get('processor', '?'))}, {cpu.get('count', '?')} logical CPUs; "
        f"Python {mi.get('python_version', '?')}; run {data.get('datetime', '?')}"
        + (f"; commit {ci.get('id', '')[:10]}{' (dirty)' if ci.get('dirty') else ''}" if ci.get("id") else "")
    )


def build(data: dict) -> str:
    rows, yard = group(data)
    out = [machine_line(data), ""]
    out.append(
        "| n | cap | cov | solver | median | IQR | × S@w | vs microalloc | vs ma(check_psd=False) | rounds | iters | status "
        "| rel. obj. gap | max viol. | ≤1e-9? |"
    )
    out.append("|---:|---:|:---|:---|---:|---:|---:|---:|---:|---:|---:|:---|---:|---:|:---:|")
    order = {"factor": 0, "sample": 1}
    last_n = None
    for key in sorted(rows, key=lambda k: (k[0], -k[1], order.get(k[2], 9), k[2])):
        n, cap, cov = key
        if n != last_n and n in yard:
            out.append(f"| {n} | | | *{YARDSTICK} (yardstick)* | {fmt_time(yard[n][0])} | {fmt_iqr(*yard[n])} | 1 | | | | | | | | |")
        last_n = n
        solvers = rows[key]
        t_nopsd = solvers.get(MA_NOPSD, {}).get("stats", {}).get("median")
        t_psd = solvers.get(MA_PSD, {}).get("stats", {}).get("median")
        names = sorted((s for s in solvers if s.startswith("microalloc")), key=lambda s: solvers[s]["stats"]["median"])
        names += sorted((s for s in solvers if not s.startswith("microalloc")), key=lambda s: solvers[s]["stats"]["median"])
        for s in names:
            b = solvers[s]
            ei, st = b["extra_info"], b["stats"]
            med = st["median"]
            label = s
            if s == "cvxpy" and ei.get("cvxpy_solver"):
                label = f"cvxpy → {ei['cvxpy_solver']}"
            ok = ei.get("meets_target")
            ok_s = "✓" if ok else ("**✗**" if ok is not None else "?")
            status = str(ei.get("status", "?"))
            if s == "cvxpy":
                status = status.split(" via ")[0]
            out.append(
                f"| {n} | {'none' if cap >= 1 else f'{cap:g}'} | {cov} | {label} | {fmt_time(med)} "
                f"| {fmt_iqr(med, st['iqr'])} | {fmt_ratio(med, yard.get(n, (None,))[0])} | {fmt_ratio(med, t_nopsd)} | {fmt_ratio(med, t_psd)} | {st['rounds']} "
                f"| {ei.get('iterations', '—')} | {status} | {fmt_sci(ei.get('rel_obj_gap'), True)} "
                f"| {fmt_sci(ei.get('max_violation'))} | {ok_s} |"
            )
    out.append("")
    out.append(
        "median: median wall time of one timed call (problem build + setup + solve for peers; the full Python "
        "call for microalloc). IQR: interquartile range of the rounds / median. × S@w: median / median of one numpy S @ w at that n. vs ma(...): median / "
        "microalloc's median (> 1: slower than microalloc). rel. obj. gap: (f(w) - f_ref) / |f_ref| for the raw "
        "answer w (negative only when w is infeasible). max viol.: max(|sum w - 1|, bound violations). "
        "≤1e-9?: |rel. obj. gap| ≤ 1e-9 and max viol. ≤ 1e-9."
    )
    out.append("")
    out.append("| n | cap | cov | f_ref | ref. from | certified rel. uncertainty of f_ref | free assets | at cap |")
    out.append("|---:|---:|:---|---:|:---|---:|---:|---:|")
    for key in sorted(rows, key=lambda k: (k[0], -k[1], order.get(k[2], 9), k[2])):
        n, cap, cov = key
        ei = next(iter(rows[key].values()))["extra_info"]
        out.append(
            f"| {n} | {'none' if cap >= 1 else f'{cap:g}'} | {cov} | {ei.get('ref_objective', float('nan')):.12g} "
            f"| {ei.get('ref_source', '?')} | {fmt_sci(ei.get('ref_rel_uncertainty'))} | {ei.get('ref_n_free', '?')} "
            f"| {ei.get('ref_n_at_upper', '?') if cap < 1 else '—'} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="?", default=str(Path(__file__).with_name("results") / "latest.json"))
    ap.add_argument("-o", "--output", help="also write the Markdown to this file")
    ap.add_argument("--summary", action="store_true", help="one row per instance (the README table)")
    args = ap.parse_args(argv)
    data = load(Path(args.json))
    parts = []
    if group(data)[0]:  # the dense solves of test_bench_mean_variance.py
        parts.append(summary(data) if args.summary else build(data))
    else:
        parts.append(machine_line(data) + "\n")
    if any("kind" in b.get("extra_info", {}) and b["extra_info"]["kind"] not in FACTOR_KINDS for b in data["benchmarks"]):
        parts.append(extras(data))
    parts.append(factor_tables(data))
    md = "\n".join(p for p in parts if p)
    sys.stdout.write(md)
    if args.output:
        Path(args.output).write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
