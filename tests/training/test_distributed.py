import os
import subprocess
import sys

import yaml

from saunet.models.checkpoint import read_checkpoint


def test_two_process_gloo_run_completes(tiny_dataset, tiny_config, tmp_path):
    cfg = tiny_config(tiny_dataset, epochs=1, threads=1)
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.to_dict()))
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "saunet", "train", "--config", str(cfg_path), "--out", str(run), "--no-test-eval"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, meta = read_checkpoint(run / "last.safetensors")
    assert meta["epoch"] == 0
    assert (run / "log.csv").read_text().count("\n") == 2  # header + one epoch, rank 0 only
