"""``saunet models``: Table IV from the code, checked against the paper's counts."""

from __future__ import annotations

from saunet.cli import main


def _rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_models_prints_every_registry_model_with_the_papers_counts(capsys):
    assert main(["models", "--size", "64", "64"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert set(rows) == {"unet", "unet18", "unet18-sa", "sd-unet", "backbone", "sa-unet"}
    for name, (_, trainable, running, paper, gflops) in rows.items():
        ours = f"{trainable} / {running}"
        assert ours == paper, f"{name}: computed {ours}, paper {paper}"
        assert float(gflops) > 0
    assert rows["sa-unet"][1] == "537,299"  # Table IV, SA-UNet trainable parameters


def test_models_gflops_scale_with_the_input_size(capsys):
    main(["models", "--size", "64", "64"])
    small = float(_rows(capsys.readouterr().out)["sa-unet"][-1])
    main(["models", "--size", "128", "128"])
    large = float(_rows(capsys.readouterr().out)["sa-unet"][-1])
    assert abs(large / small - 4.0) < 0.05
