"""Real state dicts built without downloads: torchvision models, a tied LM, a training checkpoint."""

from __future__ import annotations

import torch
from torch import nn


class TiedLM(nn.Module):
    """A small transformer language model whose output projection shares the embedding."""

    def __init__(self, vocab: int = 50, dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=32, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)))


def training_checkpoint(seed: int = 0) -> tuple[TiedLM, dict]:
    """{model, optimizer (Adam after one step), epoch, step, config}, as training loops save it."""
    torch.manual_seed(seed)
    model = TiedLM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    model(torch.randint(0, 50, (2, 5))).sum().backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "step": 1234,
            "config": {"dim": 16, "heads": 2, "dropout": 0.1, "name": "tiny", "betas": (0.9, 0.999)}}
    return model, ckpt


def odd_tensors() -> dict[str, torch.Tensor]:
    """bf16, fp8, 0-d, empty, non-contiguous, integer and bool tensors, NaN payloads."""
    torch.manual_seed(1)
    base = torch.randn(6, 4)
    nan_payload = torch.tensor([0x7FC00001, 0x7FA00000, 0xFFC00000], dtype=torch.int64).to(torch.int32).view(torch.float32)
    return {
        "bf16": torch.randn(3, 5).to(torch.bfloat16),
        "fp8": torch.randn(4, 4).to(torch.float8_e4m3fn),
        "fp8_e5m2": torch.randn(8).to(torch.float8_e5m2),
        "scalar": torch.tensor(3.5),
        "empty": torch.empty(0, 3),
        "transposed": base.t(),
        "strided": torch.arange(20.0)[::3],
        "int64": torch.arange(7),
        "mask": torch.tensor([True, False, True]),
        "half": torch.randn(3).half(),
        "double": torch.randn(2, 2, dtype=torch.float64),
        "nans": nan_payload,
    }
