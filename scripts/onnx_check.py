#!/usr/bin/env python3
"""Checks shaderfit's ONNX exports with the ONNX tools themselves.

    onnx_check.py --images t10k-images-idx3-ubyte[.gz] --count 256 --tolerance 1e-4 \\
        MODEL.onnx PREDICT.json [MODEL.onnx PREDICT.json ...]

For each model: onnx.checker.check_model (full check, shapes inferred), then ONNX Runtime on
the first COUNT images of the IDX file, or of an .npz file's x_train (pixels / 255,
[N, H, W, C], as the model's metadata says; grey images get their channel axis), compared with `shaderfit predict --json` on the same images: the worst absolute
difference of any class probability, and whether the argmax agrees on every image. Exits 1
if any model fails either.

    onnx_check.py --images t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz MODEL.onnx

scores MODEL.onnx on every image: the count it classifies correctly.
Needs `pip install onnx onnxruntime numpy`.
"""

import argparse
import gzip
import json
import struct
import sys

import numpy as np
import onnx
import onnxruntime


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_images(path):
    if path.endswith(".npz"):
        return np.load(path)["x_train"]
    return read_idx(path)


def probabilities(model_path, images):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    x = images.astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., np.newaxis]
    return session.run(["probabilities"], {"input": x})[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels")
    parser.add_argument("--count", type=int)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    images = read_images(args.images)[: args.count]
    if args.labels:
        labels = read_idx(args.labels)[: args.count]
        p = probabilities(args.files[0], images)
        correct = int((p.argmax(axis=1) == labels).sum())
        print(f"onnxruntime: {correct} of {len(labels)} correct ({correct / len(labels):.4f})")
        return 0
    failed = False
    pairs = list(zip(args.files[0::2], args.files[1::2]))
    for model_path, predict_path in pairs:
        with open(predict_path) as f:
            ours = np.array([item["probabilities"] for item in json.load(f)], dtype=np.float64)
        theirs = probabilities(model_path, images).astype(np.float64)
        worst = float(np.abs(ours - theirs).max())
        agree = int((ours.argmax(axis=1) == theirs.argmax(axis=1)).sum())
        ok = worst <= args.tolerance and agree == len(ours)
        failed |= not ok
        print(f"{model_path}: worst difference {worst:.3e}, argmax agrees on {agree} of {len(ours)}"
              + ("" if ok else f"  FAILED (tolerance {args.tolerance:g})"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
