"""Tiny encoders and galleries for the core tests."""

from __future__ import annotations

import os
import zlib

import torch
from torch import nn


def join_as_rank(rank: int, world_size: int) -> None:
    """Set up a spawned test process the way torchrun would (one thread; env for W > 1).

    The rendezvous is a file (``init_method="file://…"``), not a port that another process on a
    loaded machine could take between choosing and binding it.
    """
    torch.set_num_threads(1)
    if world_size > 1:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))


class ToyEncoder(nn.Module):
    """Linear → LayerNorm → GELU → Linear → LayerNorm: a query tower with norm params."""

    def __init__(self, d_in: int = 12, width: int = 24, d_out: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(
            nn.Linear(d_in, width),
            nn.LayerNorm(width),
            nn.GELU(),
            nn.Linear(width, d_out),
            nn.LayerNorm(d_out),
        )
        with torch.no_grad():  # non-trivial affine params so that gradients are not symmetric
            for module in self.body:
                if isinstance(module, nn.LayerNorm):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ToyImageEncoder(nn.Module):
    """(B, 3, 8, 8) images → (B, d) with a LayerNorm, to exercise image-only paths (DeYO)."""

    def __init__(self, d_out: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.proj = nn.Linear(3 * 8 * 8, 16)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.norm(self.proj(x.flatten(1)))))


def toy_gallery(n: int = 40, d: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


def toy_batches(
    sizes: list[int], d_in: int = 12, seed: int = 2, outliers: bool = False
) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, size in enumerate(sizes):
        x = torch.randn(size, d_in, generator=g)
        if outliers and i % 7 == 3:
            x = x * 1e3  # wildly out-of-distribution batch
        if outliers and i % 11 == 5:
            x = torch.zeros(size, d_in)  # constant batch: identical queries
        out.append(x)
    return out


class ToyDualEncoder:
    """Factory for a tiny DualEncoder over 8×8 images and hashed character trigrams.

    The trigram hash is CRC-32, not ``hash()``: Python salts string hashes per process, which
    made the toy's text features, and so the tests' numbers, change from run to run.
    """

    @staticmethod
    def build(dim: int = 8, seed: int = 0):
        import numpy as np

        from qshift.encoders.base import DualEncoder

        class _Dual(DualEncoder):
            name = "toy"

            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(seed)
                self.dim = dim
                self.image = nn.Sequential(
                    nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.LayerNorm(16), nn.Linear(16, dim)
                )
                self.text = _TextTower(dim)

            def image_tower(self) -> nn.Module:
                return self.image

            def text_tower(self) -> nn.Module:
                return self.text

            def prepare_images(self, images):
                small = [np.asarray(img, dtype=np.float32)[:8, :8] / 255.0 for img in images]
                return torch.tensor(np.stack(small)).permute(0, 3, 1, 2).contiguous()

            def prepare_texts(self, texts):
                feats = torch.zeros(len(texts), 64)
                for row, text in enumerate(texts):
                    for i in range(len(text) - 2):
                        feats[row, zlib.crc32(text[i : i + 3].encode()) % 64] += 1.0
                return {"feats": feats}

        return _Dual()


class _TextTower(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Linear(64, 16)
        self.norm = nn.LayerNorm(16)
        self.out = nn.Linear(16, dim)

    def forward(self, batch):
        return self.out(self.norm(self.proj(batch["feats"])))


def toy_dataset(n_images: int = 24, captions: int = 2, seed: int = 0):
    """A tiny generated RetrievalDataset: coloured 8×8 images, captions naming colours."""
    import numpy as np

    from qshift.data.base import GeneratedImages, RetrievalDataset

    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(n_images, 3))

    def render(i: int) -> np.ndarray:
        img = np.zeros((8, 8, 3), dtype=np.uint8)
        img[:] = colours[i]
        img[2:6, 2:6] = 255 - colours[i]
        return img

    texts = [f"a patch of colour {c[0]} {c[1]} {c[2]} number {k}" for c in colours for k in range(captions)]
    return RetrievalDataset(
        name="toy",
        images=GeneratedImages(n_images, render),
        texts=texts,
        image_groups=np.arange(n_images),
        text_groups=np.repeat(np.arange(n_images), captions),
    )
