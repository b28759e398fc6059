#!/usr/bin/env python3
"""Runs a peer (Keras on CPU, or PyTorch on the GPU) and shaderfit on the same model, data and
epochs, one after the other on the same machine, and prints seconds per epoch, their ratio
and test accuracy.

  python3 benches/peers/compare.py --peer keras --model cnn --epochs 3 --data ../shared/data/mnist \
      --python $HOME/keras-venv/bin/python
  python3 benches/peers/compare.py --peer torch --model cnn --epochs 3 --data ../shared/data/mnist

shaderfit's seconds per epoch are, like the peers', the median wall time of the epochs after
the first (training and the validation pass on the test set).
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPES = {  # the reference notebooks' optimizers
    "mlp": "adam", "mlp_bn": "adam", "lenet": "adam", "cnn": "rmsprop", "cnn_wide": "adam", "cnn4": "rmsprop",
}


def run(cmd):
    print("$ " + " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(map(str, cmd))}\n{out.stderr[-2000:]}")
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", choices=("keras", "torch"), required=True)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--data", type=Path, required=True, help="IDX directory (e.g. ../shared/data/mnist)")
    p.add_argument("--python", default=sys.executable, help="interpreter with the peer's packages")
    p.add_argument("--shaderfit", type=Path, default=REPO / "target" / "release" / "shaderfit")
    p.add_argument("--threads", type=int, default=0, help="Keras threads (0: all cores)")
    args = p.parse_args()

    if args.peer == "keras":
        cmd = [args.python, HERE / "keras_bench.py", "--model", args.model, "--epochs", str(args.epochs),
               "--data", args.data]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
    else:
        cmd = [args.python, HERE / "torch_bench.py", "--model", args.model, "--epochs", str(args.epochs),
               "--data", args.data]
    peer = json.loads(run(cmd).strip().splitlines()[-1])

    out = run([args.shaderfit, "train", "--model", args.model, "--optimizer", RECIPES[args.model],
               "--epochs", str(args.epochs), "--data", args.data])
    secs = [float(m.group(1)) for m in re.finditer(r"^Epoch \d+/\d+ - ([0-9.]+)s", out, re.M)]
    ours = statistics.median(secs[1:]) if len(secs) > 1 else secs[0]
    acc = float(re.search(r"test_accuracy: ([0-9.]+)", out).group(1))

    print(f"{'':12} {'s/epoch':>9} {'test acc':>9}")
    print(f"{args.peer:12} {peer['sec_per_epoch']:>9.2f} {peer['test_acc']:>9.4f}")
    print(f"{'shaderfit':12} {ours:>9.2f} {acc:>9.4f}")
    print(f"shaderfit is {peer['sec_per_epoch'] / ours:.2f}x the peer's speed "
          f"({args.model}, {args.epochs} epochs)")
    print(json.dumps({"peer": args.peer, "model": args.model, "epochs": args.epochs,
                      "peer_sec_per_epoch": peer["sec_per_epoch"], "shaderfit_sec_per_epoch": ours,
                      "speedup": round(peer["sec_per_epoch"] / ours, 3),
                      "peer_test_acc": peer["test_acc"], "shaderfit_test_acc": acc}))


if __name__ == "__main__":
    main()
