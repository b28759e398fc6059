#!/usr/bin/env python3
"""The GPU measurement run's summary: reads what benches/gpu-session.sh wrote in its output
folder and prints one Markdown page with every figure, the device and the date. Epoch times
are in milliseconds (the median of the epochs after the first, which pays for compiling and
tuning), from each run's history (shaderfit) or JSON line (PyTorch). A step that failed or was
skipped says so instead of a figure.

  python3 benches/peers/summarize.py OUT_DIR > OUT_DIR/summary.md
"""
import json
import re
import statistics
import sys
from pathlib import Path


def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return None


def last_json(path):
    """The last line of a file that parses as a JSON object, or None."""
    text = read(path) or ""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def whole_json(path):
    try:
        return json.loads(read(path) or "")
    except ValueError:
        return None


def status(out, step):
    """What the session recorded of a step: ok, failed (exit N), timed out, skipped (why)."""
    text = read(out / "steps.txt") or ""
    m = re.search(rf"^{re.escape(step)}\t(.*)$", text, re.M)
    return m.group(1) if m else "not run"


def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.1f}"


def median_after_first(secs):
    if not secs:
        return None
    return statistics.median(secs[1:]) if len(secs) > 1 else secs[0]


def ours(out, name):
    h = whole_json(out / f"{name}.history.json")
    return (h or {}).get("seconds") or []


def main():
    out = Path(sys.argv[1])
    lines = ["# GPU measurement run", ""]
    devices = read(out / "devices.txt") or "(no devices output)"
    date = (read(out / "date.txt") or "?").strip()
    lines += [f"Date: {date}", "", "Devices:", "", "```", devices.strip(), "```", ""]

    lines += ["## Plan (bench --plan)", ""]
    plan = whole_json(out / "plan.json")
    if plan:
        lines += ["| model | training dispatches | launches at fill >= 1 | evaluation dispatches |", "| --- | --- | --- | --- |"]
        for p in plan["plans"]:
            full = sum(1 for l in p["training"] if l["fill"] >= 1)
            lines.append(f"| {p['model']} | {len(p['training'])} | {full} of {len(p['training'])} | {len(p['evaluation'])} |")
    else:
        lines.append(f"plan: {status(out, 'plan')}")
    lines.append("")

    lines += ["## Square f32 GEMM", ""]
    bench = whole_json(out / "bench.json")
    torch_gemm = last_json(out / "torch_gemm.txt")
    peer = {g["n"]: g for g in (torch_gemm or {}).get("gemm", [])}
    if bench:
        lines += ["| n | shaderfit ms | shaderfit GFLOP/s | PyTorch ms (TF32 off) | PyTorch GFLOP/s |", "| --- | --- | --- | --- | --- |"]
        for g in bench["gemm"]:
            t = peer.get(g["n"])
            lines.append(f"| {g['n']} | {g['ms']:.3f} | {g['gflops']:.0f} | "
                         f"{t['ms']:.3f} | {t['gflops']:.0f} |" if t else
                         f"| {g['n']} | {g['ms']:.3f} | {g['gflops']:.0f} | - | - |")
    else:
        lines.append(f"bench: {status(out, 'bench')}")
    if not torch_gemm:
        lines.append(f"\nPyTorch GEMM: {status(out, 'torch_gemm')}")
    lines.append("")

    lines += ["## Seconds per epoch (ms; median of the epochs after the first)", "",
              "| model | shaderfit | its epochs | PyTorch eager | its epochs | PyTorch / shaderfit |",
              "| --- | --- | --- | --- | --- | --- |"]
    for model in ("mlp", "cnn"):
        mine = ours(out, model)
        theirs = last_json(out / f"torch_{model}.txt") or {}
        a, b = median_after_first(mine), median_after_first(theirs.get("epoch_seconds") or [])
        ratio = f"{b / a:.2f}x" if a and b else "-"
        lines.append(f"| {model} | {ms(a)} | {', '.join(ms(s) for s in mine) or status(out, model)} | "
                     f"{ms(b)} | {', '.join(ms(s) for s in theirs.get('epoch_seconds') or []) or status(out, 'torch_' + model)} | {ratio} |")
    lines.append("")

    lines += ["## fast99: time to 99% test accuracy (ms of training, validation included)", ""]
    mine = ours(out, "fast99")
    said = read(out / "fast99.txt") or ""
    acc = re.findall(r"test_accuracy: ([0-9.]+)", said)
    reached = "reached val_accuracy" in said
    theirs = last_json(out / "torch_fast99.txt") or {}
    mine_ms = ms(sum(mine)) if mine and reached else ("not reached" if mine else status(out, "fast99"))
    their_ms = ms(theirs.get("seconds_to_target")) if theirs.get("seconds_to_target") else (
        "not reached" if theirs else status(out, "torch_fast99"))
    lines += ["| | to 99% | test accuracy |", "| --- | --- | --- |",
              f"| shaderfit `train --recipe fast99` | {mine_ms} | {acc[-1] if acc else '-'} |",
              f"| PyTorch, same recipe | {their_ms} | {theirs.get('test_acc', '-')} |",
              ""]

    lines += ["## Steps", "", "```", (read(out / "steps.txt") or "").strip(), "```"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
