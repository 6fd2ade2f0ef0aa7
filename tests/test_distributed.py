"""torchrun integration, top-k recording and the FAISS gallery's shared memory.

Multi-process checks run W = 2 gloo processes on the CPU (``torch.multiprocessing.spawn``) and
compare them with the same code in one process: scores, metrics and final parameters agree to
float tolerance, for every method, with uneven shares and a rank left without queries.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import qshift
import qshift.methods as methods
from qshift import distributed
from qshift.cli import main
from qshift.cli.run import check_device_flag
from qshift.errors import UsageError
from qshift.gallery import TOPK_THRESHOLD, Gallery, TopK
from qshift.metrics import RetrievalMetrics, TopKMetrics

from toys import (
    ToyDualEncoder,
    ToyEncoder,
    ToyImageEncoder,
    join_as_rank,
    toy_batches,
    toy_dataset,
    toy_gallery,
)

#: the last batch holds one query, so rank 1 of 2 gets none
SIZES = [16, 15, 1]
TOL = {"atol": 2e-5, "rtol": 1e-4}


# -- single-process pieces ------------------------------------------------------------------------------
def test_shards_are_contiguous_uneven_and_cover_every_item_once():
    assert distributed.shard_sizes(5, 2) == [3, 2]
    assert distributed.shard_sizes(1, 2) == [1, 0]
    bounds = [distributed.shard_bounds(10, r, 3) for r in range(3)]
    assert bounds == [(0, 4), (4, 7), (7, 10)]
    items = list(range(7))
    share = distributed.ItemSlice(items, 3, 6)
    assert list(share) == [3, 4, 5]
    with pytest.raises(IndexError):
        share[3]


def test_without_a_process_group_helpers_are_the_identity():
    x = torch.randn(3, 4)
    assert distributed.world() == distributed.World()
    assert distributed.gather_rows(x, [3]) is x
    assert distributed.gather_rows_with_grad(x, [3]) is x
    assert distributed.gather_objects("a") == ["a"]
    assert distributed.broadcast_object({"k": 1}) == {"k": 1}
    assert len(distributed.local_share(list(range(9)))) == 9


def test_torchrun_environment_is_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT unset"):
        distributed.init_from_env()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.init_from_env() == distributed.World()


def test_run_flags_for_distributed_and_topk_are_checked(capsys):
    with pytest.raises(UsageError, match="every rank on one GPU"):
        check_device_flag("cuda:1", world_size=2)
    check_device_flag("cuda", world_size=2)
    check_device_flag("cuda:1", world_size=1)
    args = ["run", "--model", "scenes", "--dataset", "scenes", "--direction", "i2t", "--record-k", "5"]
    assert main(args) == 2
    assert "--record-k must be >= 10" in capsys.readouterr().err


def test_topk_metrics_equal_dense_metrics():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(30, 60, generator=gen)
    gallery_groups = np.arange(60) // 3  # three relevant items per query
    query_groups = np.arange(30) % 20
    dense = RetrievalMetrics(gallery_groups)
    ranks = dense.update(scores, query_groups)
    full, top10 = TopKMetrics(gallery_groups), TopKMetrics(gallery_groups)
    values, indices = scores.topk(60, dim=1)
    full.update(TopK(values, indices), query_groups)
    top_ranks = top10.update(TopK(values[:, :10], indices[:, :10]), query_groups)
    assert full.compute() == pytest.approx(dense.compute())
    for key in ("r1", "r5", "r10"):
        assert top10.compute()[key] == pytest.approx(dense.compute()[key])
    assert torch.equal(top_ranks, ranks.clamp_max(10))
    assert top10.compute()["map"] <= full.compute()["map"] + 1e-9
    with pytest.raises(ValueError, match="k >= 10"):
        top10.update(TopK(values[:, :5], indices[:, :5]), query_groups)


def test_topk_metrics_count_ties_against_the_query_as_dense_metrics_do():
    scores = torch.zeros(4, 12)
    scores[1, :6] = 1.0  # query 1: its relevant items tie with non-relevant ones at the top
    gallery_groups, query_groups = np.arange(12) // 2, np.array([0, 1, 2, 3])
    dense, topk = RetrievalMetrics(gallery_groups), TopKMetrics(gallery_groups)
    dense.update(scores, query_groups)
    values, indices = scores.topk(12, dim=1)
    topk.update(TopK(values, indices), query_groups)
    assert topk.compute() == pytest.approx(dense.compute())
    assert topk.compute()["r1"] == 0.0


def test_gallery_record_mode_and_validation():
    small = Gallery(toy_gallery(40))
    assert not small.records_topk
    assert Gallery(toy_gallery(40), record="topk").records_topk
    assert Gallery(torch.ones(TOPK_THRESHOLD + 1, 2)).records_topk
    assert not Gallery(torch.ones(TOPK_THRESHOLD + 1, 2), record="dense").records_topk
    with pytest.raises(ValueError, match="record_k"):
        Gallery(toy_gallery(40), record_k=5)
    with pytest.raises(ValueError, match="record"):
        Gallery(toy_gallery(40), record="sparse")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["tcr", "tcr-free", "source"])
def test_topk_recording_changes_nothing_for_nearest_only_methods(method):
    xs = toy_batches([16, 16, 7])
    dense = methods.build(method, ToyEncoder(), Gallery(toy_gallery(40), record="dense"), lr=1e-2)
    topk = methods.build(method, ToyEncoder(), Gallery(toy_gallery(40), record="topk"), lr=1e-2)
    for x in xs:
        full = dense(x)
        found = topk(x)
        assert isinstance(found, TopK) and found.indices.shape == (len(x), 10)
        assert torch.equal(found.indices, full.topk(10, dim=1).indices)
        torch.testing.assert_close(found.values, full.topk(10, dim=1).values)
    for a, b in zip(dense.params, topk.params, strict=True):
        torch.testing.assert_close(a, b)
    assert topk.gallery.size == 40  # the candidate view is gone after each batch


def test_topk_recording_runs_the_baselines_on_the_full_gallery():
    xs = toy_batches([16, 16])
    dense = methods.build("tent", ToyEncoder(), Gallery(toy_gallery(40), record="dense"), lr=1e-2)
    topk = methods.build("tent", ToyEncoder(), Gallery(toy_gallery(40), record="topk"), lr=1e-2)
    for x in xs:
        assert torch.equal(topk(x).indices, dense(x).topk(10, dim=1).indices)
    for a, b in zip(dense.params, topk.params, strict=True):
        torch.testing.assert_close(a, b)


def test_evaluate_records_topk_with_the_same_recalls():
    encoder, data = ToyDualEncoder.build(), toy_dataset(n_images=17, captions=2)
    kwargs = {"shift": "gaussian_noise@5", "method": "tcr", "batch_size": 8, "workers": 1}
    dense = qshift.evaluate(encoder, data, "i2t", record="dense", **kwargs)
    topk = qshift.evaluate(encoder, data, "i2t", record="topk", **kwargs)
    for key in ("r1", "r5", "r10"):
        assert topk.metrics[key] == pytest.approx(dense.metrics[key])
    assert topk.uniformity_after == pytest.approx(dense.uniformity_after)


def test_faiss_gallery_shares_the_index_memory():
    pytest.importorskip("faiss")
    emb = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.normalize(emb, dim=-1)
    for backend in ("faiss", "faiss-hnsw"):
        gallery = Gallery(emb, backend=backend)
        view = gallery.embeddings
        assert torch.equal(view, expected)
        assert torch.equal(gallery.topk(expected[:5], 1).indices[:, 0], torch.arange(5))
        del gallery
        gc.collect()
        assert torch.equal(view, expected)  # the view keeps the index alive


@pytest.mark.slow
def test_compiled_query_tower_gives_the_same_results():
    data = toy_dataset(n_images=17, captions=2)
    kwargs = {"shift": "gaussian_noise@5", "method": "tcr", "batch_size": 8, "workers": 1}
    plain = qshift.evaluate(ToyDualEncoder.build(), data, "i2t", **kwargs)
    encoder = ToyDualEncoder.build()
    compiled = qshift.evaluate(encoder, data, "i2t", compile=True, **kwargs)
    assert hasattr(encoder.image.forward, "_torchdynamo_orig_callable")
    assert compiled.metrics == pytest.approx(plain.metrics)
    assert compiled.uniformity_after == pytest.approx(plain.uniformity_after, abs=1e-5)


# -- two processes ----------------------------------------------------------------------------------
def _toy_case(method: str) -> tuple[torch.nn.Module, list[torch.Tensor]]:
    """DeYO on images (patch shuffling), everything else on the vector toy encoder."""
    if method == "deyo":
        gen = torch.Generator().manual_seed(3)
        return ToyImageEncoder(), [torch.randn(n, 3, 8, 8, generator=gen) for n in SIZES]
    return ToyEncoder(), toy_batches(SIZES)


#: lr of the comparison; the statistics-alignment methods take a smaller one: their L1 loss under
#: AdamW at 1e-2 turns last-bit differences of the statistics (sums split over ranks) into visible
#: parameter differences, where at 1e-4 the two runs agree exactly
LR = 1e-2
ALIGNMENT_LR = {"align": 1e-4, "qshift": 1e-4}


def _run_methods() -> dict:
    """Every method (and TCR recording top-k) over SIZES: scores, embeddings and final params."""
    out = {}
    cases = [(name, "dense") for name in methods.names()] + [("tcr", "topk")]
    for name, record in cases:
        encoder, xs = _toy_case(name)
        lr = ALIGNMENT_LR.get(name, LR)
        adapter = methods.build(name, encoder, Gallery(toy_gallery(40), record=record), lr=lr)
        scores = [tuple(adapter(x)) if record == "topk" else adapter(x) for x in xs]
        out[f"{name}/{record}"] = {
            "scores": scores,
            "embeddings": adapter.last_embeddings,
            "params": [p.detach().clone() for p in adapter.params],
        }
    return out


def _gradients() -> dict:
    """Parameter gradients of one Tent loss, after the all-reduce, and the rows this rank embedded.

    AdamW hides a wrongly scaled gradient, so the gradients themselves are compared.
    """
    encoder = ToyEncoder()
    rows: list[int] = []
    encoder.register_forward_hook(lambda module, args, output: rows.append(len(args[0])))
    adapter = methods.build("tent", encoder, toy_gallery(40))
    grads = []
    for x in toy_batches(SIZES):
        adapter.optimizer.zero_grad(set_to_none=True)
        adapter.gallery_entropy(adapter.embed(x))[2].mean().backward()
        distributed.all_reduce_grads(adapter.params)
        grads.append([p.grad.clone() for p in adapter.params])
    return {"grads": grads, "rows": rows}


def _run_evaluate() -> dict:
    """``qshift.evaluate`` end to end (sharded gallery, shared query preparation), both directions."""
    encoder, data = ToyDualEncoder.build(), toy_dataset(n_images=17, captions=2)
    out = {}
    for direction, shift, method in [("i2t", "gaussian_noise@5", "tcr"), ("t2i", "ocr@5", "tent")]:
        result = qshift.evaluate(encoder, data, direction, shift, method, batch_size=8, workers=1)
        row = result.to_json()
        row.pop("seconds")
        out[direction] = row
    return out


def _worker(rank: int, world_size: int, out_dir: str) -> None:
    """One rank: join the gloo group through a rendezvous file, run everything, save."""
    join_as_rank(rank, world_size)
    rendezvous = Path(out_dir) / f"rendezvous-w{world_size}"
    with distributed.torchrun_session(init_method=f"file://{rendezvous}") as world:
        assert world.size == world_size and world.rank == rank
        result = {"methods": _run_methods(), "evaluate": _run_evaluate(), "gradients": _gradients()}
        if world.active:
            try:
                methods.build("tent", ToyEncoder(seed=rank), toy_gallery(40))
                result["mismatch"] = "not detected"
            except ValueError as err:
                result["mismatch"] = str(err)
    torch.save(result, Path(out_dir) / f"w{world_size}_rank{rank}.pt")


def _spawn(world_size: int, out_dir: Path) -> list[dict]:
    torch.multiprocessing.spawn(_worker, args=(world_size, str(out_dir)), nprocs=world_size)
    return [torch.load(out_dir / f"w{world_size}_rank{r}.pt", weights_only=False) for r in range(world_size)]


def _assert_close(a, b) -> None:
    if isinstance(a, torch.Tensor):
        if a.dtype == torch.long:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, **TOL)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_close(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_close(a[key], b[key])
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-4)
    else:
        assert a == b


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> dict:
    """The 1-process reference and both ranks of the 2-process run (children share a hash seed)."""
    monkeypatch_module.setenv("PYTHONHASHSEED", "0")  # the toy text tower hashes trigrams
    out = tmp_path_factory.mktemp("dist")
    return {"one": _spawn(1, out)[0], "two": _spawn(2, out)}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.slow
def test_two_processes_match_one_for_every_method(runs):
    one, (rank0, rank1) = runs["one"], runs["two"]
    assert set(one["methods"]) == {f"{m}/dense" for m in methods.names()} | {"tcr/topk"}
    for case, expected in one["methods"].items():
        try:
            _assert_close(rank0["methods"][case], expected)
        except AssertionError as err:
            raise AssertionError(f"{case}: 2 processes differ from 1") from err
        for a, b in zip(rank0["methods"][case]["params"], rank1["methods"][case]["params"], strict=True):
            assert torch.equal(a, b), f"{case}: parameters differ between ranks"


@pytest.mark.slow
def test_two_processes_split_the_work_and_sum_exact_gradients(runs):
    one, (rank0, rank1) = runs["one"], runs["two"]
    _assert_close(rank0["gradients"]["grads"], one["gradients"]["grads"])
    _assert_close(rank1["gradients"]["grads"], one["gradients"]["grads"])
    assert one["gradients"]["rows"] == SIZES
    assert rank0["gradients"]["rows"] == [8, 8, 1]
    assert rank1["gradients"]["rows"] == [8, 7]  # no encoder call for an empty share


@pytest.mark.slow
def test_two_process_evaluate_matches_one_and_every_rank_returns_it(runs):
    one, (rank0, rank1) = runs["one"], runs["two"]
    _assert_close(rank0["evaluate"], one["evaluate"])
    assert rank1["evaluate"] == rank0["evaluate"]
    assert rank0["evaluate"]["i2t"]["queries"] == 17 and rank0["evaluate"]["t2i"]["queries"] == 34


@pytest.mark.slow
def test_ranks_with_different_weights_are_refused(runs):
    for rank in runs["two"]:
        assert "differ between ranks" in rank["mismatch"]


# -- torchrun end to end ----------------------------------------------------------------------------
def _qshift_run(prefix: list[str], model: Path, dataset: str, out: Path | None = None) -> list[dict]:
    command = [
        *prefix,
        "run",
        "--model",
        f"hf:{model}",
        "--dataset",
        dataset,
        "--direction",
        "i2t",
        "--shift",
        "gaussian_noise@5",
        "--method",
        "tcr",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--workers",
        "1",
        "--json",
    ]
    if out is not None:
        command += ["--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    # the whole stderr: under torchrun a rank's own error comes before the launcher's summary
    assert done.returncode == 0, done.stderr[-12000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_torchrun_qshift_run_matches_one_process(tiny_clip_dir, tiny_karpathy, tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    torchrun += ["--standalone", "-m", "qshift"]  # torchrun picks a free rendezvous port itself
    (single,) = _qshift_run([sys.executable, "-m", "qshift"], tiny_clip_dir, tiny_karpathy.spec)
    lines = _qshift_run(torchrun, tiny_clip_dir, tiny_karpathy.spec, out=tmp_path / "out")
    assert len(lines) == 1  # only rank 0 prints
    (multi,) = lines
    for key in ("r1", "r5", "r10", "r_mean", "map", "uniformity_after", "gap_after"):
        assert multi[key] == pytest.approx(single[key], abs=1e-3), key
    assert multi["queries"] == single["queries"] == len(tiny_karpathy.images)
    assert json.loads((tmp_path / "out" / "result.json").read_text())["r1"] == multi["r1"]
