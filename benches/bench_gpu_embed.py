"""The GPU RBF feature map against PyTorch, on the same CUDA stream.

n = 1 000 000 rows, d = 128, m = 2 048 landmarks, f32, gamma = 1/d:
``helios.rkhs_embed_gpu`` on PyTorch tensors (device pointers, PyTorch's current stream)
against the same formula written in PyTorch without ``torch.cdist``:
``||x||² + ||l||² - 2 X Lᵀ``, clamp at 0, ``torch.exp``, times the same
normaliser, in row blocks of the same size. Reports each one's time (best
of --repeats, after a warm-up that compiles the kernels), the ratio, and
the share of the device's f32 GEMM peak (2 n m (d + m) FLOPs over the time;
the peak is measured with one large ``torch.mm``).

Needs a CUDA device, PyTorch with CUDA, and helios built with the ``cuda``
feature (``make python`` builds without it, so point the binding at the
feature build); without them it prints a SKIPPED line and exits 0. Not part
of ``make bench`` (CI has no GPU):

    cargo build --release --features cuda
    HELIOS_LIBRARY=$PWD/target/release/libhelios.so \
        .venv/bin/python benches/bench_gpu_embed.py [--n 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time

import helios


def skip(reason: str) -> None:
    print(f"SKIPPED: the GPU embedding benchmark ({reason})")
    sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--m", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        skip("PyTorch is not installed")
    if not torch.cuda.is_available():
        skip("no CUDA device for PyTorch")
    try:
        device = helios.Device.open(0)
    except helios.HeliosError as error:
        skip(f"helios: {error}")
    n, d, m = args.n, args.d, args.m
    gamma = 1.0 / d
    print(f"{device}; torch {torch.__version__}; n = {n}, d = {d}, m = {m}, f32")

    generator = torch.Generator(device="cuda").manual_seed(0)
    x = torch.rand((n, d), device="cuda", generator=generator)
    landmarks = x[torch.randperm(n, device="cuda", generator=generator)[:m]].contiguous()
    out = torch.empty((n, m), device="cuda")
    stream = torch.cuda.current_stream()

    # PyTorch multiplies by an m x m matrix too: the timing does not depend
    # on its values (helios computes its own normaliser on the CPU per call,
    # which its time includes).
    normaliser = torch.rand((m, m), device="cuda", generator=generator)

    def run_helios() -> None:
        helios.rkhs_embed_gpu(x, landmarks, gamma=gamma, ridge=0.0, device=device,
                              stream=stream, out=out)

    block = 1 << 16

    def run_torch() -> None:
        l_norms = (landmarks * landmarks).sum(1)
        for start in range(0, n, block):
            xb = x[start:start + block]
            dots = xb @ landmarks.T
            dist = ((xb * xb).sum(1, keepdim=True) + l_norms[None, :] - 2 * dots).clamp_(min=0)
            torch.mm(torch.exp_(dist.mul_(-gamma)), normaliser, out=out[start:start + block])

    def best(fn) -> float:
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return min(times)

    ours = best(run_helios)
    theirs = best(run_torch)
    a = torch.rand((8192, 8192), device="cuda")
    peak_time = best(lambda: torch.mm(a, a))
    peak = 2 * 8192**3 / peak_time
    flops = 2 * n * m * (d + m)
    print(f"helios  {ours * 1e3:9.1f} ms  {flops / ours / 1e12:6.1f} TFLOP/s  {flops / ours / peak:5.1%} of f32 GEMM peak")
    print(f"pytorch {theirs * 1e3:9.1f} ms  {flops / theirs / 1e12:6.1f} TFLOP/s  {flops / theirs / peak:5.1%} of f32 GEMM peak")
    print(f"helios / pytorch speed: {theirs / ours:.2f}x (goal >= 1.2x); f32 GEMM peak {peak / 1e12:.1f} TFLOP/s")


if __name__ == "__main__":
    main()
