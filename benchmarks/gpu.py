"""Queries per second of source, Tent and TCR on a CLIP-B/16-sized image tower, fp32 and bf16.

The tower is qshift's Hugging Face CLIP image tower (``GetterTower``: ``get_image_features``,
autocast on CUDA with fp32 LayerNorms, float32 embeddings) around a ``CLIPModel`` built from a
config with ViT-B/16 sizes (width 768, 12 layers, 12 heads, 224-pixel images, 16-pixel
patches, projection 512) and random weights: speed does not depend on the weights. The
gallery is N = 25,000 random normalised 512-d embeddings kept on the device (float16 in the
bf16 rows, as ``qshift run --precision bf16`` keeps it; float32 otherwise). B = 64 queries
per batch, S = 3 steps, image-to-text direction.

On a GPU: ``python benchmarks/gpu.py [--batches 10] [--compile] [--out FILE]``. The CPU run
(``--device cpu --small``: 2 layers, 64-pixel images) only checks that the script works;
autocast is CUDA-only in qshift, so the CPU run has fp32 rows only.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

B, N, DIM = 64, 25_000, 512
VIT_B16 = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "image_size": 224,
    "patch_size": 16,
}
SMALL = {**VIT_B16, "num_hidden_layers": 2, "image_size": 64}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def build_tower(vision: dict, amp_dtype: torch.dtype | None, device: torch.device) -> torch.nn.Module:
    """qshift's CLIP image tower around a randomly initialised CLIP with ``vision`` sizes."""
    from qshift.encoders.hf import GetterTower

    torch.manual_seed(0)
    config = CLIPConfig(vision_config=vision, text_config={"num_hidden_layers": 2}, projection_dim=DIM)
    model = CLIPModel(config).eval().to(device)
    return GetterTower(model, ("vision_model", "visual_projection"), "get_image_features", amp_dtype)


def measure(
    method: str, precision: str, vision: dict, device: torch.device, batches: int, compile_tower: bool
) -> dict:
    """Queries/s and peak device memory of ``method`` over ``batches`` timed batches (after warm-up)."""
    from qshift import methods
    from qshift.api import compile_forward
    from qshift.gallery import Gallery

    amp_dtype = PRECISIONS[precision]
    tower = build_tower(vision, amp_dtype, device)
    if compile_tower:
        compile_forward(tower)
    gen = torch.Generator().manual_seed(0)
    gallery = Gallery(
        torch.randn(N, DIM, generator=gen),
        device=device,
        dtype=torch.float16 if amp_dtype is not None else torch.float32,
    )
    hparams = {} if method == "tcr" else {"temperature": 0.01}
    adapter = methods.build(method, tower, gallery, **hparams)
    side = vision["image_size"]
    xs = [torch.randn(B, 3, side, side, generator=gen).to(device) for _ in range(2)]
    warmup = 3 if compile_tower else 1
    for i in range(warmup):
        adapter(xs[i % 2])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for i in range(batches):
        adapter(xs[i % 2])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / (1 << 30) if device.type == "cuda" else None
    return {"method": method, "precision": precision, "qps": B * batches / seconds, "peak_gib": peak}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU ({platform.processor() or platform.machine()})"


def table(rows: list[dict]) -> str:
    lines = ["| method | precision | queries / s | ms / batch | peak GPU memory |", "|---|---|---|---|---|"]
    for r in rows:
        peak = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.1f} GiB"
        lines.append(
            f"| {r['method']} | {r['precision']} | {r['qps']:,.0f} | {1000 * B / r['qps']:,.0f} | {peak} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="2 layers, 64-pixel images (CPU smoke run)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--methods", default="source,tent,tcr")
    parser.add_argument("--compile", action="store_true", help="torch.compile the query tower")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 rows are true fp32
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    vision = SMALL if args.small else VIT_B16
    rows = []
    for precision in precisions:
        for method in args.methods.split(","):
            rows.append(measure(method.strip(), precision, vision, device, args.batches, args.compile))
            print(rows[-1], flush=True)
    size = "2-layer 64-px ViT-B width (--small)" if args.small else "ViT-B/16, 224 px"
    head = (
        f"Device: {device_name(device)}; torch {torch.__version__}; tower {size}; B = {B}, N = {N:,}, "
        f"S = 3; {args.batches} timed batches{'; torch.compile' if args.compile else ''}"
    )
    text = f"{head}\n\n{table(rows)}\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
