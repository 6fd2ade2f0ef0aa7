"""Per-method adaptation throughput, and TCR's overhead over the work it cannot avoid.

Unavoidable work per batch = S × (query-tower forward + backward + AdamW step + the B × N
product that finds each query's nearest gallery item). TCR adds its refinement, queue and
three losses on top; the ratio TCR / unavoidable is measured side by side in one process on
the same encoder, repeated, and the median reported.

Also: a 5,000-query × 25,000-item evaluation through the engine in a child process, whose
peak memory shows that no dense score matrix (500 MB in float32) is ever held.

    python benchmarks/throughput.py [--batches 10] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(code: str) -> str:
    """Run ``code`` with this module imported as ``t`` in a fresh process; its stdout."""
    prelude = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import throughput as t; "
    return subprocess.run(
        [sys.executable, "-c", prelude + code], check=True, capture_output=True, text=True
    ).stdout


def child_method_memory(name: str, batches: int) -> float:
    """Peak RSS growth (MB) of a fresh process while it adapts ``name`` on ``batches`` batches."""
    code = (
        f"g, xs = t.make_inputs({batches}); tower = t.Tower(); base = t.peak_rss_mb(); "
        f"t.time_method({name!r}, tower, g, xs); print(t.peak_rss_mb() - base)"
    )
    return float(in_child(code))


def engine_memory() -> tuple[float, float, float, dict[str, float]]:
    """A 5,000 × 25,000 evaluation: (peak RSS growth, process peak RSS, dense matrix size) in MB, metrics."""
    from qshift.engine import run_stream
    from qshift.methods import build
    from qshift.shifts import streams

    gen = torch.Generator().manual_seed(0)
    queries, gallery_size, d = 5_000, 25_000, 64
    gallery = nn.functional.normalize(torch.randn(gallery_size, d, generator=gen), dim=1)
    truth = torch.randint(0, gallery_size, (queries,), generator=gen)
    inputs = gallery[truth] + 3.0 * torch.randn(queries, d, generator=gen) / d**0.5
    encoder = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d))
    with torch.no_grad():
        encoder[0].weight.copy_(torch.eye(d))
        encoder[0].bias.zero_()
    plan = streams.single(queries, "none", 64, 0)
    batches = ((b, inputs[torch.as_tensor(b.indices)], truth.numpy()[b.indices]) for b in plan)
    base = peak_rss_mb()
    result = run_stream(build("tcr", encoder, gallery), batches, np.arange(gallery_size))
    return peak_rss_mb() - base, peak_rss_mb(), queries * gallery_size * 4 / 2**20, result.metrics


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
    grown, peak, dense, metrics = json.loads(in_child("import json; print(json.dumps(t.engine_memory()))"))
    lines += [
        "",
        f"Engine, TCR, 5,000 queries × 25,000 gallery (d = 64): peak RSS grew by {grown:.0f} MB during the "
        f"stream (process peak {peak:.0f} MB, torch included); a dense score matrix alone would be "
        f"{dense:.0f} MB (R@1 {metrics['r1']:.1f}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
