#!/usr/bin/env python3
"""Peer baseline: Keras 3 (TensorFlow backend, CPU) MNIST / Fashion-MNIST trainer.

Models reproduce the reference notebooks: inputs scaled to [0,1], one-hot labels,
categorical cross-entropy, batch 128, validation on the test set, model.fit(verbose=2).

Data is read from IDX gzip files (no download):
  <data>/train-images-idx3-ubyte.gz  <data>/train-labels-idx1-ubyte.gz
  <data>/t10k-images-idx3-ubyte.gz   <data>/t10k-labels-idx1-ubyte.gz

Example:
  python3 -m venv $HOME/keras-venv && $HOME/keras-venv/bin/pip install -r benches/peers/keras-requirements.txt
  $HOME/keras-venv/bin/python benches/peers/keras_bench.py --model cnn --epochs 2 --threads 2 \
      --jsonl keras_results.jsonl

Per epoch it prints wall seconds (train + validation), train-only seconds, train
loss/acc and val loss/acc; at the end one JSON line (prefixed by nothing) with:
model, params, epochs, sec_per_epoch (median wall seconds of epochs after the
first; the only epoch when epochs == 1), samples_per_sec (train samples / median
train-only seconds of epochs after the first), test_acc, test_loss, and context.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

# Quiet TF's C++ INFO logs; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np

ROOT = Path(__file__).resolve().parents[3]  # benches/peers/ -> repo -> the folder that holds shared/
DEFAULT_DATA = {
    "mnist": ROOT / "shared" / "data" / "mnist",
    "fashion": ROOT / "shared" / "data" / "fashion-mnist",
}
MODELS = ("mlp", "mlp_bn", "lenet", "cnn", "cnn_wide", "cnn4")


# ----------------------------------------------------------------------------- data
def _open_idx(path: Path):
    if path.exists():
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    if plain.exists():
        return open(plain, "rb")
    raise FileNotFoundError(f"missing IDX file: {path}")


def read_idx_images(path: Path) -> np.ndarray:
    with _open_idx(path) as f:
        buf = f.read()
    magic, n, rows, cols = np.frombuffer(buf, dtype=">u4", count=4)
    if magic != 2051:
        raise ValueError(f"{path}: bad image magic {magic}")
    data = np.frombuffer(buf, dtype=np.uint8, offset=16)
    return data.reshape(int(n), int(rows), int(cols))


def read_idx_labels(path: Path) -> np.ndarray:
    with _open_idx(path) as f:
        buf = f.read()
    magic, n = np.frombuffer(buf, dtype=">u4", count=2)
    if magic != 2049:
        raise ValueError(f"{path}: bad label magic {magic}")
    data = np.frombuffer(buf, dtype=np.uint8, offset=8)
    if data.size != n:
        raise ValueError(f"{path}: header says {n} labels, found {data.size}")
    return data


def load_data(data_dir: Path):
    x_tr = read_idx_images(data_dir / "train-images-idx3-ubyte.gz")
    y_tr = read_idx_labels(data_dir / "train-labels-idx1-ubyte.gz")
    x_te = read_idx_images(data_dir / "t10k-images-idx3-ubyte.gz")
    y_te = read_idx_labels(data_dir / "t10k-labels-idx1-ubyte.gz")
    assert len(x_tr) == len(y_tr) and len(x_te) == len(y_te)
    return (x_tr, y_tr), (x_te, y_te)


# ----------------------------------------------------------------------------- models
def build_model(name: str):
    import keras
    from keras import layers

    if name == "mlp":
        net = [
            layers.Input((28, 28)),
            layers.Flatten(),  # same as reshape(-1, 784) in the notebook
            layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
        opt = keras.optimizers.Adam(learning_rate=1e-3)
    elif name == "mlp_bn":
        net = [layers.Input((28, 28)), layers.Flatten()]
        for units in (256, 128, 64, 32):
            net += [
                layers.Dense(units, activation="relu"),
                layers.BatchNormalization(),
                layers.Dropout(0.2),
            ]
        net.append(layers.Dense(10, activation="softmax"))
        opt = keras.optimizers.Adam(learning_rate=1e-3)
    elif name == "lenet":
        net = [
            layers.Input((28, 28, 1)),
            layers.Conv2D(6, (3, 3), activation="relu"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, (3, 3), activation="relu"),
            layers.AveragePooling2D(2),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(64, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
        opt = keras.optimizers.Adam(learning_rate=1e-3)
    elif name == "cnn":
        net = [
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
        opt = keras.optimizers.RMSprop(learning_rate=1e-3)
    elif name == "cnn_wide":
        net = [
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
        opt = keras.optimizers.Adam(learning_rate=1e-3)
    elif name == "cnn4":
        net = [
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
        opt = keras.optimizers.RMSprop(learning_rate=1e-3)
    else:
        raise ValueError(f"unknown model {name!r}; choose from {MODELS}")

    model = keras.Sequential(net, name=name)
    model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


# ----------------------------------------------------------------------------- timing
_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_s():
    """Machine-wide busy CPU seconds (user+nice+system+irq+softirq) from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:8]]
        return (v[0] + v[1] + v[2] + v[5] + v[6]) / _CLK
    except OSError:
        return float("nan")


def make_timer_callback(limit=0.0):
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall time per epoch (train + validation) and train-only time
        (epoch begin -> validation begin; fit() runs evaluate() with callbacks)."""

        def __init__(self, limit=0.0):
            super().__init__()
            self.limit = limit
            self.wall, self.train, self.foreign = [], [], []
            self._t0 = self._tv = None

        def on_epoch_begin(self, epoch, logs=None):
            self._tv = None
            self._busy0, self._own0 = machine_busy_s(), time.process_time()
            self._t0 = time.perf_counter()

        def on_test_begin(self, logs=None):
            if self._t0 is not None and self._tv is None:
                self._tv = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            t1 = time.perf_counter()
            # CPU seconds burnt by *other* processes during this epoch (contention check).
            foreign = max(0.0, (machine_busy_s() - self._busy0) - (time.process_time() - self._own0))
            wall = t1 - self._t0
            train = (self._tv or t1) - self._t0
            self.wall.append(wall)
            self.train.append(train)
            self.foreign.append(foreign)
            if self.limit and wall > self.limit:
                print(f"[epoch {epoch + 1}] wall {wall:.1f}s > --max-epoch-seconds "
                      f"{self.limit:g}: stopping after this epoch", flush=True)
                self.model.stop_training = True
            logs = logs or {}
            print(
                f"[epoch {epoch + 1}] wall {wall:.2f}s (train {train:.2f}s) "
                f"loss {logs.get('loss', float('nan')):.4f} "
                f"acc {logs.get('accuracy', float('nan')):.4f} "
                f"val_loss {logs.get('val_loss', float('nan')):.4f} "
                f"val_acc {logs.get('val_accuracy', float('nan')):.4f} "
                f"foreign_cpu {foreign:.1f}s",
                flush=True,
            )

    return EpochTimer(limit)


def steady(xs):
    """Median of epochs after the first (warm-up/tracing); the first if only one."""
    return statistics.median(xs[1:]) if len(xs) > 1 else xs[0]


# ----------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist")
    p.add_argument("--data", type=Path, default=None,
                   help="IDX directory (default: shared/data/mnist or shared/data/fashion-mnist)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="TF intra- and inter-op threads (0 = TF default)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jsonl", type=Path, default=None, help="also append the JSON line here")
    p.add_argument("--max-epoch-seconds", type=float, default=0,
                   help="stop after any epoch whose wall time exceeds this (0 = never)")
    args = p.parse_args(argv)

    data_dir = args.data or DEFAULT_DATA[args.dataset]
    (x_tr, y_tr), (x_te, y_te) = load_data(data_dir)

    import tensorflow as tf

    # Thread settings must precede any TF op.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    keras.utils.set_random_seed(args.seed)

    x_tr = x_tr.astype("float32") / 255.0
    x_te = x_te.astype("float32") / 255.0
    if args.model in ("lenet", "cnn", "cnn_wide", "cnn4"):
        x_tr, x_te = x_tr[..., None], x_te[..., None]
    y_tr1 = keras.utils.to_categorical(y_tr, 10)
    y_te1 = keras.utils.to_categorical(y_te, 10)

    model = build_model(args.model)
    params = int(model.count_params())
    print(
        f"model={args.model} params={params} dataset={args.dataset} data={data_dir} "
        f"train={x_tr.shape} test={x_te.shape} batch={args.batch} threads={args.threads} "
        f"tf={tf.__version__} keras={keras.__version__} backend={keras.backend.backend()}",
        flush=True,
    )

    timer = make_timer_callback(args.max_epoch_seconds)
    hist = model.fit(
        x_tr, y_tr1,
        batch_size=args.batch,
        epochs=args.epochs,
        validation_data=(x_te, y_te1),
        callbacks=[timer],
        verbose=2,
    )
    h = hist.history
    sec_per_epoch = steady(timer.wall)
    train_sec = steady(timer.train)
    result = {
        "model": args.model,
        "params": params,
        "epochs": len(timer.wall),
        "epochs_requested": args.epochs,
        "sec_per_epoch": round(sec_per_epoch, 3),
        "train_sec_per_epoch": round(train_sec, 3),
        "samples_per_sec": round(len(x_tr) / train_sec, 1),
        "test_acc": round(float(h["val_accuracy"][-1]), 4),
        "test_loss": round(float(h["val_loss"][-1]), 4),
        "train_acc": round(float(h["accuracy"][-1]), 4),
        "train_loss": round(float(h["loss"][-1]), 4),
        "epoch_wall_s": [round(t, 2) for t in timer.wall],
        "epoch_train_s": [round(t, 2) for t in timer.train],
        "epoch_foreign_cpu_s": [round(t, 1) for t in timer.foreign],
        "steady_state": len(timer.wall) > 1,
        "dataset": args.dataset,
        "batch": args.batch,
        "threads": args.threads,
        "seed": args.seed,
        "tf": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    line = json.dumps(result)
    print(line, flush=True)
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
