#!/usr/bin/env python3
"""PyTorch's square f32 matmul on the GPU (TF32 off unless --tf32): ms and GFLOP/s per size,
the figure shaderfit's `bench --sizes` is compared with. The last line is JSON.

  python3 benches/peers/torch_gemm.py --sizes 1024,2048,4096
"""
import argparse
import json

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1024,2048,4096", help="comma-separated square sizes")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--tf32", action="store_true", help="allow TF32 (off: true FP32, like shaderfit)")
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        a = torch.randn(n, n, device="cuda")
        b = torch.randn(n, n, device="cuda")
        for _ in range(3):
            a @ b
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(args.reps):
            a @ b
        end.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(end) / args.reps
        gflops = 2 * n**3 / (ms * 1e-3) / 1e9
        print(f"{n:>6}³ {ms:10.3f} ms {gflops:12.1f} GFLOP/s")
        results.append({"n": n, "ms": ms, "gflops": gflops})
    print(json.dumps({"device": torch.cuda.get_device_name(), "tf32": args.tf32, "gemm": results}))


if __name__ == "__main__":
    main()
