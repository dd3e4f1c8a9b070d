"""`inspect_checkpoint` against figures computed independently from the models themselves."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from tests.checkpoint.ckpt_models import TiedLM, odd_tensors, training_checkpoint
from tensortool import convert_checkpoint, inspect_checkpoint
from tensortool.errors import OptionError


@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors", "sharded"])
def test_resnet_totals_match_the_model(tmp_path, fmt):
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    state = model.state_dict()
    if fmt == "safetensors":
        path = tmp_path / "r.safetensors"
        save_file(state, path)
    elif fmt == "sharded":
        torch.save(state, tmp_path / "r.pth")
        convert_checkpoint(tmp_path / "r.pth", tmp_path / "shards", max_shard_size="10MB")
        path = tmp_path / "shards"
    else:
        path = tmp_path / "r.pth"
        torch.save(state, path, _use_new_zipfile_serialization=fmt == "zip")
    info = inspect_checkpoint(path, depth=1)
    assert info.count == len(state) and info.parameters == sum(p.numel() for p in model.parameters())
    assert info.buffers == sum(b.numel() for b in model.buffers())
    assert info.bytes == sum(t.numel() * t.element_size() for t in state.values())
    assert info.dtypes["int64"]["tensors"] == sum(1 for t in state.values() if t.dtype == torch.int64)
    layer1 = next(m for m in info.modules if m["module"] == "layer1")
    assert layer1["parameters"] == sum(p.numel() for p in model.layer1.parameters())
    assert layer1["buffers"] == sum(b.numel() for b in model.layer1.buffers())
    assert info.dtypes["int64"]["buffers"] == 20 and info.dtypes["int64"]["parameters"] == 0
    if fmt == "sharded":
        assert info.format.startswith("sharded safetensors") and len(info.files) > 2


def test_module_tree_depth(tmp_path):
    model = TiedLM()
    torch.save(model.state_dict(), tmp_path / "lm.pth")
    info = inspect_checkpoint(tmp_path / "lm.pth", depth=3)
    names = [m["module"] for m in info.modules]
    assert "encoder" in names and "encoder.layers" in names and "encoder.layers.0" in names
    layer0 = next(m for m in info.modules if m["module"] == "encoder.layers.0")
    assert layer0["parameters"] == sum(p.numel() for p in model.encoder.layers[0].parameters())


def test_ties_optimizer_and_extras_are_reported(tmp_path):
    model, ckpt = training_checkpoint()
    torch.save(ckpt, tmp_path / "train.pth")
    info = inspect_checkpoint(tmp_path / "train.pth")
    assert info.state_dict == "model"
    assert info.shared == [["embed.weight", "head.weight"]]
    assert info.parameters == sum(p.numel() for p in model.parameters())  # the tie counted once
    assert info.other["epoch"] == 7 and info.other["step"] == 1234
    opt = info.other["optimizer"]
    assert opt["kind"] == "optimizer state" and opt["param_groups"] == 1 and opt["lr"] == [3e-4]
    assert opt["state_entries"] == len(ckpt["optimizer"]["state"])
    assert info.other["config"]["name"] == "tiny"


def test_tensors_stats_filter_and_non_contiguous(tmp_path):
    odd = odd_tensors()
    torch.save(odd, tmp_path / "odd.pth")
    info = inspect_checkpoint(tmp_path / "odd.pth", tensors=True, stats=True)
    assert set(info.non_contiguous) == {"transposed", "strided"}
    by_name = {t.name: t for t in info.tensors}
    for name in ("bf16", "fp8", "double", "transposed"):
        ref = odd[name].double() if name == "double" else odd[name].float().double()  # bf16, fp8 ⊂ float32 exactly
        s = by_name[name].stats
        assert s["min"] == ref.min().item() and s["max"] == ref.max().item()
        assert s["mean"] == pytest.approx(ref.mean().item(), rel=1e-12, abs=1e-15)
        assert s["std"] == pytest.approx(ref.std(correction=0).item(), rel=1e-12)
    assert by_name["empty"].stats["mean"] is None and by_name["scalar"].shape == []
    filtered = inspect_checkpoint(tmp_path / "odd.pth", tensors=True, filter="^fp8")
    assert [t.name for t in filtered.tensors] == ["fp8", "fp8_e5m2"] and filtered.count == 2
    with pytest.raises(OptionError):
        inspect_checkpoint(tmp_path / "odd.pth", filter="(")


def test_data_parallel_prefix_is_noticed(tmp_path):
    torch.save({f"module.{k}": v for k, v in TiedLM().state_dict().items()}, tmp_path / "dp.pth")
    assert inspect_checkpoint(tmp_path / "dp.pth").common_prefix == "module."


def test_key_selects_a_sub_dict(tmp_path):
    torch.save({"model": {"w": torch.ones(3)}, "ema": {"w": torch.ones(3), "v": torch.ones(2)}}, tmp_path / "c.pth")
    assert inspect_checkpoint(tmp_path / "c.pth").count == 1
    assert inspect_checkpoint(tmp_path / "c.pth", key="ema").count == 2
