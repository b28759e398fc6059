#!/usr/bin/env python3
"""Peer baseline: PyTorch eager on a GPU, the fastest idiomatic loop for these models.

The dataset is preloaded on the GPU (u8 -> f32 in [0,1] once), batches are slices of a
per-epoch permutation, the models and recipes are the reference notebooks' (Keras's
defaults: Glorot-uniform kernels, zero biases, Adam eps 1e-7, RMSprop rho 0.9 eps 1e-7,
batch-norm momentum 0.99 eps 1e-3), validation on the test set each epoch, as
keras_bench.py does. It prints one line per epoch and a final JSON line with the same
fields as keras_bench.py (sec_per_epoch = median wall seconds of epochs after the first).

--recipe fast99 trains shaderfit's `fast99` recipe instead: `cnn_fast`, batch 256, Adam at
lr 0.01 with betas (0.7, 0.9) under PyTorch's OneCycleLR (momentum not cycled, as shaderfit
does not), and reports in its JSON the wall seconds until the first epoch whose test accuracy
reaches --until (0.99), or null.

Example (on a machine with CUDA and PyTorch):
  python3 benches/peers/torch_bench.py --model cnn --epochs 3 --data ../shared/data/mnist
  python3 benches/peers/torch_bench.py --recipe fast99 --data assets/mnist
"""
import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

MODELS = ("mlp", "mlp_bn", "lenet", "cnn", "cnn_wide", "cnn4", "cnn_fast")


def read_idx(path: Path, images: bool) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        buf = f.read()
    if images:
        _, n, rows, cols = np.frombuffer(buf, dtype=">u4", count=4)
        return np.frombuffer(buf, dtype=np.uint8, offset=16).reshape(int(n), 1, int(rows), int(cols))
    return np.frombuffer(buf, dtype=np.uint8, offset=8)


def find(data: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (data / name).exists():
            return data / name
    raise FileNotFoundError(f"{data}: missing {stem}(.gz)")


def conv(cin, cout):
    return nn.Conv2d(cin, cout, 3)


def build(name: str):
    relu = nn.ReLU
    if name == "mlp":
        layers = [nn.Flatten(), nn.Linear(784, 512), relu(), nn.Linear(512, 10)]
        opt = "adam"
    elif name == "mlp_bn":
        layers, width = [nn.Flatten()], 784
        for units in (256, 128, 64, 32):
            # Keras momentum 0.99 is PyTorch momentum 0.01.
            layers += [nn.Linear(width, units), relu(), nn.BatchNorm1d(units, eps=1e-3, momentum=0.01), nn.Dropout(0.2)]
            width = units
        layers.append(nn.Linear(32, 10))
        opt = "adam"
    elif name == "lenet":
        layers = [conv(1, 6), relu(), nn.AvgPool2d(2), conv(6, 16), relu(), nn.AvgPool2d(2), nn.Dropout(0.2),
                  nn.Flatten(), nn.Linear(400, 128), relu(), nn.Linear(128, 64), relu(), nn.Linear(64, 32), relu(),
                  nn.Linear(32, 16), relu(), nn.Linear(16, 10)]
        opt = "adam"
    elif name == "cnn":
        layers = [conv(1, 32), relu(), nn.MaxPool2d(2), conv(32, 64), relu(), nn.MaxPool2d(2), conv(64, 64), relu(),
                  nn.Flatten(), nn.Linear(576, 512), relu(), nn.Linear(512, 10)]
        opt = "rmsprop"
    elif name == "cnn_wide":
        layers = [conv(1, 32), relu(), conv(32, 64), relu(), nn.Flatten(), nn.Linear(36864, 128), relu(), nn.Linear(128, 10)]
        opt = "adam"
    elif name == "cnn_fast":
        layers = [nn.Conv2d(1, 24, 5), relu(), nn.MaxPool2d(2), conv(24, 32), relu(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(800, 256), relu(), nn.Linear(256, 10)]
        opt = "adam"
    elif name == "cnn4":
        layers = [conv(1, 32), relu(), conv(32, 64), relu(), nn.MaxPool2d(2), conv(64, 64), relu(), nn.MaxPool2d(2),
                  conv(64, 128), relu(), nn.Flatten(), nn.Linear(1152, 64), relu(), nn.Linear(64, 10)]
        opt = "rmsprop"
    else:
        raise ValueError(name)
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model, opt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=MODELS)
    p.add_argument("--recipe", choices=("fast99",), help="a shaderfit recipe instead of --model")
    p.add_argument("--until", type=float, default=0.99, help="with --recipe: the test accuracy timed to")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--data", type=Path, required=True, help="IDX directory")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (off by default: FP32 like shaderfit)")
    args = p.parse_args(argv)
    if (args.model is None) == (args.recipe is None):
        p.error("give --model or --recipe")
    if args.recipe == "fast99":
        args.model, args.batch, args.epochs = "cnn_fast", 256, max(args.epochs, 1)

    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    to = lambda a, dt: torch.from_numpy(a.copy()).to(dev, dt)
    x_tr = to(read_idx(find(args.data, "train-images-idx3-ubyte"), True), torch.float32) / 255.0
    y_tr = to(read_idx(find(args.data, "train-labels-idx1-ubyte"), False), torch.long)
    x_te = to(read_idx(find(args.data, "t10k-images-idx3-ubyte"), True), torch.float32) / 255.0
    y_te = to(read_idx(find(args.data, "t10k-labels-idx1-ubyte"), False), torch.long)

    model, opt_name = build(args.model)
    model = model.to(dev)
    sched = None
    if args.recipe == "fast99":
        opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9), eps=1e-7)
        steps = (len(x_tr) + args.batch - 1) // args.batch * args.epochs
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=steps, cycle_momentum=False)
    elif opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    params = sum(p.numel() for p in model.parameters())
    print(f"model={args.model} params={params} device={dev} torch={torch.__version__}", flush=True)

    def evaluate():
        model.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x_te), 1000):
                logits = model(x_te[i:i + 1000])
                loss += loss_fn(logits, y_te[i:i + 1000]).item() * len(logits)
                correct += (logits.argmax(1) == y_te[i:i + 1000]).sum().item()
        return loss / len(x_te), correct / len(x_te)

    walls, reached = [], None
    for epoch in range(args.epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x_tr), device=dev)
        for i in range(0, len(x_tr), args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        val_loss, val_acc = evaluate()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
        if args.recipe and reached is None and val_acc >= args.until:
            reached = sum(walls)
        print(f"[epoch {epoch + 1}] wall {walls[-1]:.2f}s val_loss {val_loss:.4f} val_acc {val_acc:.4f}", flush=True)
    print(json.dumps({
        "model": args.model,
        "recipe": args.recipe,
        "params": params,
        "epochs": args.epochs,
        "sec_per_epoch": round(statistics.median(walls[1:]) if len(walls) > 1 else walls[0], 4),
        "epoch_seconds": [round(w, 4) for w in walls],
        "seconds_to_target": None if reached is None else round(reached, 4),
        "test_acc": round(val_acc, 4),
        "test_loss": round(val_loss, 4),
        "device": str(dev),
        "gpu": torch.cuda.get_device_name() if dev.type == "cuda" else None,
        "torch": torch.__version__,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
