#!/usr/bin/env python3
"""Carry on in Keras 3 from a shaderfit checkpoint.

Rebuilds the checkpoint's model (the spec in its safetensors metadata) as a
keras.Sequential with Keras's own layer names (conv2d, conv2d_1, dense, ...),
loads every tensor into the variable of the same name (shaderfit writes
Keras's names and layouts), and compiles it with sparse categorical
cross-entropy and accuracy. With --data it evaluates on the test set; with
--save it writes a .keras file.

Install (any Keras 3 backend will do; JAX on the CPU is the lightest, and the
one used unless KERAS_BACKEND names another, e.g. torch or tensorflow):

    pip install keras jax safetensors numpy
    python scripts/keras_from_checkpoint.py run.safetensors --data data/ --save run.keras

--data is a folder holding t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz, or the folder above one named after the
checkpoint's dataset (mnist/, fashion-mnist/), or an .npz file of Keras's
(x_test, y_test) or MedMNIST's (test_images, test_labels) layout, grey
[N, H, W] or RGB [N, H, W, 3]. Images are scaled to [0, 1].
"""
import argparse
import gzip
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from safetensors import safe_open  # noqa: E402


def pair(v):
    """shaderfit's sizes: n for [n, n], or [height, width]."""
    return tuple(v) if isinstance(v, list) else (v, v)


def activation(layer):
    act = layer.get("activation") or "linear"
    return "linear" if act == "none" else act


def keras_layer(layer, name):
    """The Keras layer of one shaderfit layer object (field defaults as shaderfit's)."""
    kind = layer["type"]
    if kind == "dense":
        return keras.layers.Dense(layer["units"], activation=activation(layer), name=name)
    if kind == "conv2d":
        return keras.layers.Conv2D(
            layer["filters"],
            pair(layer["kernel"]),
            strides=pair(layer.get("stride", 1)),
            padding=layer.get("padding", "valid"),
            activation=activation(layer),
            name=name,
        )
    if kind in ("max_pool", "avg_pool"):
        pool = keras.layers.MaxPooling2D if kind == "max_pool" else keras.layers.AveragePooling2D
        size = pair(layer.get("size", 2))
        return pool(size, strides=pair(layer.get("stride", size)), padding="valid", name=name)
    if kind == "batch_norm":
        return keras.layers.BatchNormalization(
            momentum=layer.get("momentum", 0.99), epsilon=layer.get("epsilon", 1e-3), name=name
        )
    if kind == "flatten":
        return keras.layers.Flatten(name=name)
    if kind == "dropout":
        return keras.layers.Dropout(layer["rate"], name=name)
    if kind == "activation":
        return keras.layers.Activation(activation(layer), name=name)
    sys.exit(f"unknown layer type {kind!r} in the checkpoint's model spec")


# shaderfit layer type -> the base of Keras's automatic layer name.
KERAS_BASE = {
    "dense": "dense",
    "conv2d": "conv2d",
    "max_pool": "max_pooling2d",
    "avg_pool": "average_pooling2d",
    "batch_norm": "batch_normalization",
    "flatten": "flatten",
    "dropout": "dropout",
    "activation": "activation",
}


def build(spec, input_shape):
    """keras.Sequential of `spec`, named as Keras names layers in a fresh session."""
    counts = {}
    layers = [keras.Input(shape=input_shape)]
    for layer in spec["layers"]:
        base = KERAS_BASE.get(layer["type"], layer["type"])
        n = counts.get(base, 0)
        counts[base] = n + 1
        layers.append(keras_layer(layer, base if n == 0 else f"{base}_{n}"))
    return keras.Sequential(layers, name=spec.get("name", "shaderfit"))


def load_weights(model, tensors, path):
    """Assigns each tensor to the variable `layer/variable` of the same name."""
    unused = set(tensors)
    for layer in model.layers:
        for var in layer.weights:
            key = f"{layer.name}/{var.name}"
            if key not in tensors:
                sys.exit(f"{path}: no tensor {key!r} (the model needs one of shape {tuple(var.shape)})")
            value = tensors[key]
            if tuple(value.shape) != tuple(var.shape):
                sys.exit(f"{path}: tensor {key!r} is {value.shape}; the model needs {tuple(var.shape)}")
            var.assign(value)
            unused.discard(key)
    if unused:
        sys.exit(f"{path}: tensors the model has no variable for: {', '.join(sorted(unused))}")


def read_idx(path):
    """An IDX file (gzip-compressed) as a numpy array of unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_set(data, dataset, input_shape):
    if data.endswith(".npz"):
        # Keras's mnist.npz layout or MedMNIST's: images [N, H, W] or [N, H, W, 3].
        arrays = np.load(data)
        x_key, y_key = ("x_test", "y_test") if "x_test" in arrays else ("test_images", "test_labels")
        x = arrays[x_key].reshape((-1, *input_shape)).astype("float32") / 255.0
        return x, arrays[y_key].reshape(-1).astype("int32")
    folder = Path(data)
    if not (folder / "t10k-images-idx3-ubyte.gz").exists():
        folder = folder / dataset
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    x = images.reshape((-1, *input_shape)).astype("float32") / 255.0
    return x, labels.astype("int32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a .safetensors file written by `shaderfit train --save`")
    parser.add_argument(
        "--data",
        help="folder with the test set's IDX .gz files (or its parent), or an .npz file (x_test, y_test)",
    )
    parser.add_argument("--save", help="write the Keras model here (a .keras file)")
    args = parser.parse_args()

    with safe_open(args.checkpoint, framework="numpy") as f:
        meta = f.metadata() or {}
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    if "model" not in meta:
        sys.exit(f"{args.checkpoint}: no model spec in its metadata; expected a shaderfit checkpoint")
    spec = json.loads(meta["model"])
    input_shape = tuple(int(n) for n in meta.get("input", "28x28x1").split("x"))

    model = build(spec, input_shape)
    load_weights(model, tensors, args.checkpoint)
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.summary()

    if args.data:
        x, y = test_set(args.data, meta.get("dataset", "mnist"), input_shape)
        loss, accuracy = model.evaluate(x, y, batch_size=500, verbose=0)
        print(f"test_loss: {loss:.4f} - test_accuracy: {accuracy:.4f}")
    if args.save:
        model.save(args.save)
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
