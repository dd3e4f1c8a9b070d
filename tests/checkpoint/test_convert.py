"""Round trips through every direction with real models, checked with safetensors' and torch's own loaders."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tests.checkpoint.ckpt_models import TiedLM, odd_tensors, training_checkpoint
from tensortool import convert_checkpoint
from tensortool.errors import InputError, OptionError, OutputError


def _bytes_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a.dtype == b.dtype and a.shape == b.shape
            and torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)))


def _load_pt(path):
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18()


def test_resnet_pth_to_safetensors_to_pth_loads_into_the_model(tmp_path, resnet):
    ref = resnet.state_dict()
    torch.save(ref, tmp_path / "r.pth")
    result = convert_checkpoint(tmp_path / "r.pth", tmp_path / "r.safetensors")
    assert result.verified and result.tensors == len(ref)
    flat = load_file(tmp_path / "r.safetensors")  # the library's own loader
    assert set(flat) == set(ref) and all(_bytes_equal(flat[k], ref[k]) for k in ref)
    convert_checkpoint(tmp_path / "r.safetensors", tmp_path / "back.pth")
    back = _load_pt(tmp_path / "back.pth")
    assert list(back) == list(ref)  # key order kept
    model = torchvision.models.resnet18()
    model.load_state_dict(back, strict=True)
    x = torch.randn(1, 3, 64, 64)
    resnet.eval(), model.eval()
    assert torch.equal(resnet(x), model(x))


def test_tied_weights_stored_once_and_restored_shared(tmp_path):
    torch.manual_seed(0)
    model = TiedLM()
    torch.save(model.state_dict(), tmp_path / "lm.pth")
    result = convert_checkpoint(tmp_path / "lm.pth", tmp_path / "lm.safetensors")
    assert result.aliases == {"head.weight": "embed.weight"}
    with safe_open(str(tmp_path / "lm.safetensors"), framework="pt") as fh:
        assert "head.weight" not in fh.keys()
        record = json.loads(fh.metadata()["tensortool.checkpoint"])
        assert record["aliases"]["head.weight"]["of"] == "embed.weight"
        assert fh.metadata()["format"] == "pt"
    convert_checkpoint(tmp_path / "lm.safetensors", tmp_path / "back.pth")
    back = _load_pt(tmp_path / "back.pth")
    assert list(back) == list(model.state_dict())
    assert back["head.weight"].data_ptr() == back["embed.weight"].data_ptr()
    fresh = TiedLM()
    fresh.load_state_dict(back)
    assert fresh.head.weight is fresh.embed.weight
    tokens = torch.randint(0, 50, (2, 6))
    model.eval(), fresh.eval()
    assert torch.equal(model(tokens), fresh(tokens))


def test_training_checkpoint_keeps_extras_and_optimizer_on_request(tmp_path):
    model, ckpt = training_checkpoint()
    torch.save(ckpt, tmp_path / "train.pth")
    plain = convert_checkpoint(tmp_path / "train.pth", tmp_path / "plain.safetensors")
    assert "optimizer" in plain.left_out and set(plain.entries) == {"epoch", "step", "config"}
    # The weights load straight into the model from the library's loader.
    weights = load_file(tmp_path / "plain.safetensors")
    assert set(weights) == set(model.state_dict()) - {"head.weight"}
    TiedLM().load_state_dict({**weights, "head.weight": weights["embed.weight"]})

    convert_checkpoint(tmp_path / "train.pth", tmp_path / "full.safetensors", include_optimizer=True)
    assert any(k.startswith("optimizer.state.") for k in load_file(tmp_path / "full.safetensors"))
    convert_checkpoint(tmp_path / "full.safetensors", tmp_path / "back.pth")
    back = _load_pt(tmp_path / "back.pth")
    assert list(back) == list(ckpt)
    assert back["epoch"] == 7 and back["step"] == 1234 and back["config"] == ckpt["config"]
    assert isinstance(back["config"]["betas"], tuple)
    assert back["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    assert list(back["optimizer"]["state"]) == list(ckpt["optimizer"]["state"])  # integer keys kept
    for pid, state in ckpt["optimizer"]["state"].items():
        for name, value in state.items():
            assert _bytes_equal(back["optimizer"]["state"][pid][name], value)
    # The optimizer state resumes training.
    fresh = TiedLM()
    fresh.load_state_dict(back["model"])
    opt = torch.optim.Adam(fresh.parameters(), lr=3e-4)
    opt.load_state_dict(back["optimizer"])


def test_odd_tensors_round_trip_bit_exact(tmp_path):
    odd = odd_tensors()
    torch.save(odd, tmp_path / "odd.pth")
    convert_checkpoint(tmp_path / "odd.pth", tmp_path / "odd.safetensors")
    lib = load_file(tmp_path / "odd.safetensors")
    for name, t in odd.items():
        assert _bytes_equal(lib[name], t), name
    convert_checkpoint(tmp_path / "odd.safetensors", tmp_path / "odd2.pth")
    back = _load_pt(tmp_path / "odd2.pth")
    for name, t in odd.items():
        assert _bytes_equal(back[name], t), name
    assert math.isnan(back["nans"][0]) and back["scalar"].dim() == 0 and back["empty"].shape == (0, 3)


def test_safetensors_metadata_of_the_source_is_kept(tmp_path):
    save_file({"w": torch.ones(2)}, tmp_path / "src.safetensors", metadata={"format": "pt", "license": "mit"})
    convert_checkpoint(tmp_path / "src.safetensors", tmp_path / "mid.pt")
    convert_checkpoint(tmp_path / "src.safetensors", tmp_path / "copy.safetensors")
    with safe_open(str(tmp_path / "copy.safetensors"), framework="pt") as fh:
        assert fh.metadata()["license"] == "mit" and fh.metadata()["format"] == "pt"


def test_dtype_casts_floating_tensors_only(tmp_path):
    state = {"w": torch.randn(4, 4), "idx": torch.arange(4), "mask": torch.ones(2, dtype=torch.bool),
             "h": torch.randn(3).half()}
    torch.save(state, tmp_path / "s.pth")
    convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.safetensors", dtype="bf16")
    out = load_file(tmp_path / "s.safetensors")
    assert out["w"].dtype == out["h"].dtype == torch.bfloat16
    assert out["idx"].dtype == torch.int64 and out["mask"].dtype == torch.bool
    assert torch.equal(out["w"], state["w"].to(torch.bfloat16))
    convert_checkpoint(tmp_path / "s.safetensors", tmp_path / "s32.pt", dtype="fp32")
    assert _load_pt(tmp_path / "s32.pt")["w"].dtype == torch.float32


def test_key_and_strip_prefix(tmp_path):
    inner = {"module.fc.weight": torch.randn(2, 2), "module.fc.bias": torch.randn(2)}
    torch.save({"ema": inner, "model": {"x": torch.ones(1)}, "epoch": 1}, tmp_path / "c.pth")
    convert_checkpoint(tmp_path / "c.pth", tmp_path / "ema.safetensors", key="ema", strip="module.")
    out = load_file(tmp_path / "ema.safetensors")
    assert set(out) == {"fc.weight", "fc.bias"} and torch.equal(out["fc.bias"], inner["module.fc.bias"])
    with pytest.raises(OptionError) as err:
        convert_checkpoint(tmp_path / "c.pth", tmp_path / "x.safetensors", key="nope")
    assert "ema" in str(err.value)


def test_sharded_layout_matches_hugging_face(tmp_path):
    torch.manual_seed(0)
    state = {"a": torch.randn(100), "b": torch.randn(100), "big": torch.randn(1000), "c": torch.randn(50),
             "tie": None}
    state["tie"] = state["a"]
    torch.save(state, tmp_path / "s.pth")
    out = tmp_path / "sharded"
    result = convert_checkpoint(tmp_path / "s.pth", out, max_shard_size="1KB")
    index = json.loads((out / "model.safetensors.index.json").read_text())
    # 1KB = 1000 bytes. a (400) and b (400) share a shard; big (4000) gets a shard of its own, appended
    # when met, so it comes first; c (200) still fits beside a and b (1000 is not over the limit).
    assert index["weight_map"] == {"big": "model-00001-of-00002.safetensors", "a": "model-00002-of-00002.safetensors",
                                   "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}
    assert index["metadata"]["total_size"] == 4 * (100 + 100 + 1000 + 50)
    assert len(result.outputs) == 3 and result.aliases == {"tie": "a"}
    for shard in set(index["weight_map"].values()):
        with safe_open(str(out / shard), framework="pt") as fh:
            assert fh.metadata()["format"] == "pt"
            for name in fh.keys():
                assert index["weight_map"][name] == shard
                assert torch.equal(fh.get_tensor(name), state[name])
    # sharded → single, both ways
    convert_checkpoint(out, tmp_path / "single.safetensors")
    assert set(load_file(tmp_path / "single.safetensors")) == {"a", "b", "big", "c"}
    convert_checkpoint(out / "model.safetensors.index.json", tmp_path / "single.pth")
    back = _load_pt(tmp_path / "single.pth")
    assert list(back) == list(state) and back["tie"].data_ptr() == back["a"].data_ptr()


def test_plan_is_greedy_in_key_order_with_oversized_alone():
    from tensortool.checkpoint.shards import parse_size, plan_shards, shard_names
    # Independent expectation: huggingface_hub's documented rule, worked out by hand.
    assert plan_shards({"a": 400, "b": 400, "big": 4000, "c": 400, "d": 100}, 1000) == [["big"], ["a", "b"], ["c", "d"]]
    assert parse_size("5GB") == 5 * 10**9 and parse_size("2GiB") == 2 * 2**30 and parse_size("500MB") == 5 * 10**8
    assert shard_names("model", 2) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert shard_names("model", 1) == ["model.safetensors"]
    with pytest.raises(OptionError):
        parse_size("five gigs")


def test_refuses_overwrite_and_the_source(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pth")
    (tmp_path / "o.safetensors").write_bytes(b"keep me")
    with pytest.raises(OutputError):
        convert_checkpoint(tmp_path / "w.pth", tmp_path / "o.safetensors")
    assert (tmp_path / "o.safetensors").read_bytes() == b"keep me"
    convert_checkpoint(tmp_path / "w.pth", tmp_path / "o.safetensors", force=True)
    with pytest.raises(OutputError):
        convert_checkpoint(tmp_path / "w.pth", tmp_path / "w.pth", force=True)
    assert _load_pt(tmp_path / "w.pth")["w"].shape == (2,)


def test_failed_verify_removes_the_output(tmp_path, monkeypatch):
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pth")
    import tensortool.checkpoint.convert as convert

    def corrupt(fh, tensors, metadata, cast=None, files=None):
        real(fh, {k: v + 1 for k, v in tensors.items()}, metadata, cast, files)

    real = convert.write_safetensors
    monkeypatch.setattr(convert, "write_safetensors", corrupt)
    with pytest.raises(OutputError) as err:
        convert_checkpoint(tmp_path / "w.pth", tmp_path / "o.safetensors")
    assert "verify failed" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pth"]


def test_nothing_but_non_tensors_is_an_error(tmp_path):
    torch.save({"epoch": 3}, tmp_path / "e.pth")
    with pytest.raises(InputError):
        convert_checkpoint(tmp_path / "e.pth", tmp_path / "e.safetensors")


@pytest.mark.parametrize("src_fmt", ["safetensors", "pth"])
def test_failed_pickle_verify_removes_the_output(tmp_path, monkeypatch, src_fmt):
    state = {"w": torch.arange(6.0), "b": torch.ones(2)}
    src = tmp_path / f"s.{src_fmt}"
    save_file(state, src) if src_fmt == "safetensors" else torch.save(state, src)
    real_save = torch.save

    def corrupt(obj, fh):
        real_save(type(obj)((k, v + 1 if k == "w" else v) for k, v in obj.items()), fh)

    monkeypatch.setattr(torch, "save", corrupt)
    with pytest.raises(OutputError) as err:
        convert_checkpoint(src, tmp_path / "o.pt")
    assert "verify failed" in str(err.value) and "'w'" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]
