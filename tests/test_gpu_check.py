"""benchmarks/gpu_check.py --smoke: every step of the GPU check runs at toy sizes, so the script cannot rot
between the rare sessions that have a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["embed_vit_b_32", "embed_vit_l_14", "exact_search", "vlm_rerank", "gpu_tests"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    # --budget: on a busy 2-core machine a step must not be skipped for time, which would hide a broken one
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--smoke", "--out", str(out), "--work", str(out / "work"),
         "--budget", "600"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    return proc, json.loads((out / "gpu_check.json").read_text()), out


def test_every_step_runs_and_every_equality_holds(smoke):
    proc, result, _ = smoke
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [r["step"] for r in result["steps"]] == STEPS
    for r in result["steps"]:
        assert r["status"] == "ok", r
        assert r["checks"] and all(c["passed"] for c in r["checks"].values()), r
    assert result["all_checks_passed"] and result["smoke"] and result["machine"]["device"] == "cpu"


def test_figures_are_recorded_where_a_step_ran(smoke):
    _, result, _ = smoke
    steps = {r["step"]: r for r in result["steps"]}
    for name in ("embed_vit_b_32", "embed_vit_l_14"):
        fig = steps[name]["figures"]
        assert min(fig["model_only_img_s"], fig["decode_only_img_s"], fig["pipeline_img_s"]) > 0
        assert fig["bound_by"] in ("model", "decoding")
    assert "pipeline_at_least_80pct_of_model" in steps["embed_vit_l_14"]["targets"]
    search = steps["exact_search"]["figures"]
    assert search["rows"] == 20_000 and search["queries"] == 250 and search["device_full_s"] > 0
    assert steps["exact_search"]["checks"]["top_k_equal_cpu"]["identical_lists"] == "250/250"
    assert steps["vlm_rerank"]["figures"]["batched_pairs_s"] > 0 and steps["vlm_rerank"]["figures"]["single_pairs_s"] > 0
    tests = steps["gpu_tests"]["figures"]
    assert tests["files"] == ["tests/test_gpu_paths.py", "tests/test_rerank_paper.py"]
    n_gpu_tests = (Path(__file__).parent / "test_gpu_paths.py").read_text().count("\ndef test_")  # all marked gpu
    n_gpu_tests += (Path(__file__).parent / "test_rerank_paper.py").read_text().count("@pytest.mark.gpu\n")
    assert tests["skipped"] == n_gpu_tests and tests["passed"] == tests["failed"] == 0  # no CUDA here: all skip, none fails


def test_prints_the_table_and_cleans_its_scratch_folder(smoke):
    proc, _, out = smoke
    assert "step             status" in proc.stdout and "top_k_equal_cpu: PASS" in proc.stdout
    assert list((out / "work").iterdir()) == []  # the run's own temporary folder is removed


def test_the_real_run_refuses_a_machine_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the real run would start")
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--smoke" in proc.stderr and not (tmp_path / "gpu_check.json").exists()
