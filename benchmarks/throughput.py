"""Per-method adaptation throughput, and TCR's overhead over the work it cannot avoid.

Unavoidable work per batch = S × (query-tower forward + backward + AdamW step + the B × N
product that finds each query's nearest gallery item). TCR adds its refinement, queue and
three losses on top; the ratio TCR / unavoidable is measured side by side in one process on
the same encoder, repeated, and the median reported.

Also: 1k/5k/10k-query × 25,000-item evaluations through the engine, each in a child
process, whose flat peak memory shows that no dense score matrix is ever held.

    python benchmarks/throughput.py [--batches 10] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

B, N, D = 64, 25_000, 256


class Tower(nn.Module):
    """A small pre-norm transformer over 32 tokens of width 256: a query tower with LayerNorms."""

    def __init__(self, layers: int = 2):
        super().__init__()
        torch.manual_seed(0)
        block = nn.TransformerEncoderLayer(D, 4, 4 * D, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(D)
        self.proj = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(self.blocks(x)).mean(dim=1))


def make_inputs(batches: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    gallery = nn.functional.normalize(torch.randn(N, D, generator=gen), dim=1)
    return gallery, [torch.randn(B, 32, D, generator=gen) for _ in range(batches)]


def time_unavoidable(tower: Tower, gallery: torch.Tensor, xs: list[torch.Tensor], steps: int = 3) -> float:
    """Seconds for S × (forward, backward, AdamW step, B × N nearest-neighbour product)."""
    from qshift.methods.params import norm_parameters

    params = norm_parameters(tower)
    for p in tower.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-6)
    start = time.perf_counter()
    for x in xs:
        for _ in range(steps):
            z = nn.functional.normalize(tower(x), dim=-1)
            with torch.no_grad():
                (z.detach() @ gallery.T).argmax(dim=1)
            opt.zero_grad(set_to_none=True)
            z.sum().backward()
            opt.step()
    return time.perf_counter() - start


def time_method(name: str, tower: Tower, gallery: torch.Tensor, xs: list[torch.Tensor]) -> float:
    """Seconds for ``name`` to adapt on every batch of ``xs``."""
    import qshift.methods as methods

    adapter = methods.build(name, tower, gallery, lr=1e-6)
    start = time.perf_counter()
    for x in xs:
        adapter(x)
    seconds = time.perf_counter() - start
    adapter.reset()
    return seconds


def rss_mb() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


class PeakSampler:
    """Samples the current RSS every few milliseconds; ``growth`` = peak minus the start."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


#: glibc's dynamic mmap threshold keeps freed multi-MB blocks on the heap, so RSS can grow far
#: past the live working set; a fixed threshold makes RSS track what is really allocated
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": "1048576"}


def in_child(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` with this module imported as ``t`` in a fresh process; its stdout."""
    prelude = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import throughput as t; "
    command = [sys.executable, "-c", prelude + code]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout


def child_method_memory(name: str, batches: int) -> float:
    """Peak RSS growth (MB) of a fresh process while it adapts ``name`` on ``batches`` batches."""
    code = (
        f"g, xs = t.make_inputs({batches}); tower = t.Tower(); s = t.PeakSampler(); "
        f"s.__enter__(); t.time_method({name!r}, tower, g, xs); s.__exit__(); print(s.growth)"
    )
    return float(in_child(code, FIXED_MMAP))


def engine_memory(queries: int = 5_000) -> tuple[float, float, float, dict[str, float]]:
    """A ``queries`` × 25,000 evaluation: (peak RSS growth, process peak RSS, dense matrix) in MB, metrics."""
    from qshift.engine import run_stream
    from qshift.methods import build
    from qshift.shifts import streams

    gen = torch.Generator().manual_seed(0)
    gallery_size, d = 25_000, 64
    gallery = nn.functional.normalize(torch.randn(gallery_size, d, generator=gen), dim=1)
    truth = torch.randint(0, gallery_size, (queries,), generator=gen)
    inputs = gallery[truth] + 3.0 * torch.randn(queries, d, generator=gen) / d**0.5
    encoder = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d))
    with torch.no_grad():
        encoder[0].weight.copy_(torch.eye(d))
        encoder[0].bias.zero_()
    plan = streams.single(queries, "none", 64, 0)
    batches = ((b, inputs[torch.as_tensor(b.indices)], truth.numpy()[b.indices]) for b in plan)
    with PeakSampler() as sampler:
        result = run_stream(build("tcr", encoder, gallery), batches, np.arange(gallery_size))
    return sampler.growth, sampler.peak, queries * gallery_size * 4 / 2**20, result.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", default="source,tent,eata,sar,read,deyo,shot,tcr,tcr-free")
    parser.add_argument("--skip-memory", action="store_true", help="skip the per-method child processes")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    gallery, xs = make_inputs(args.batches)
    tower = Tower()
    names = args.methods.split(",")
    time_method("tcr", tower, gallery, xs[:2])  # warm-up
    time_unavoidable(tower, gallery, xs[:2])
    ratios, per_method = [], {n: [] for n in names}
    for _ in range(args.repeats):
        base = time_unavoidable(tower, gallery, xs)
        tcr = time_method("tcr", tower, gallery, xs)
        ratios.append(tcr / base)
        for name in names:
            per_method[name].append(time_method(name, tower, gallery, xs))
    lines = [
        f"B = {B}, N = {N}, d = {D}, S = 3; tower: 2-layer pre-norm transformer (width {D}, 32 tokens); "
        f"{args.batches} batches × {args.repeats} repeats; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}",
        "",
        f"**TCR / unavoidable work: median {statistics.median(ratios):.3f}** "
        f"(runs: {', '.join(f'{r:.3f}' for r in ratios)})",
        "",
        "| method | ms / batch | queries / s | peak RSS growth (MB) |",
        "|---|---|---|---|",
    ]
    for name in names:
        ms = 1000 * statistics.median(per_method[name]) / args.batches
        mem = "–" if args.skip_memory else f"{child_method_memory(name, args.batches):.0f}"
        lines.append(f"| {name} | {ms:.1f} | {B / ms * 1000:.0f} | {mem} |")
    lines += [
        "",
        "Engine, TCR, Q queries × 25,000 gallery items (d = 64), fresh process each, "
        "MALLOC_MMAP_THRESHOLD_=1048576 (see the note in docs/performance.md):",
        "",
        "| queries Q | peak RSS growth during the stream (MB) | a dense Q × N float32 matrix (MB) |",
        "|---|---|---|",
    ]
    for queries in (1_000, 5_000, 10_000):
        grown, _, dense, _ = json.loads(
            in_child(f"import json; print(json.dumps(t.engine_memory({queries})))", FIXED_MMAP)
        )
        lines.append(f"| {queries:,} | {grown:.0f} | {dense:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
