"""What int8 weights cost in accuracy, per layer type, on a random-weight realtime checkpoint.

    python -m model.bench.int8 --config tiny        # also medium

Accuracy on real speech cannot be measured without the real weights; this measures what can be: the same audio
embeddings and token inputs go through the full-precision model and through copies with one layer type's matrices
in int8 (model.precision.Int8Linear, as precision="int8" stores them), and it reports the logits' relative error
(RMS of the difference over RMS of the logits) and how often the next-token choice (argmax) stays the same. The
last row has every matrix in int8, as precision="int8" loads it, and also the share of greedy transcription tokens
that match full precision on the same audio.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.bench.realtime import synthetic_audio
from model.precision import Int8Linear

GROUPS: dict[str, Callable[[str], bool]] = {
    "encoder attention": lambda name: name.startswith("encoder.") and ".attn." in name,
    "encoder feed-forward": lambda name: name.startswith("encoder.") and ".ffn." in name,
    "adapter": lambda name: name.startswith("adapter."),
    "decoder attention": lambda name: name.startswith("decoder.") and ".attn." in name,
    "decoder feed-forward": lambda name: name.startswith("decoder.") and (".ffn." in name or ".ada_" in name),
    "output head": lambda name: name == "decoder.output_projection",
}


def with_int8(net: nn.Module, chosen: Callable[[str], bool]) -> nn.Module:
    """A copy of ``net`` whose linear layers named by ``chosen`` (and the tied head, if chosen) are int8."""
    net = copy.deepcopy(net)
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.Linear) and chosen(name):
            parent, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent), child, Int8Linear(module.weight, module.bias, dynamic=True))
    if chosen("decoder.output_projection"):
        net.decoder.output_projection = Int8Linear(net.decoder.tok_embeddings, None, dynamic=True)
    return net


def teacher_inputs(model, audio: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """What ``logits`` compares implementations on: the mel frames of ``audio`` (whole decoder positions), as many
    random input tokens as positions, and the delay scales of 480 ms."""
    mel = model.mel.frames(torch.from_numpy(audio)[None])
    mel = mel[..., : mel.shape[-1] // 8 * 8]
    tokens = torch.randint(0, model.config.decoder.vocab_size, (1, mel.shape[-1] // 8),
                           generator=torch.Generator().manual_seed(seed))
    return mel, tokens, model.net.decoder.delay_scales(model.config.delay_tokens(480))


def logits(net: nn.Module, mel: torch.Tensor, tokens: torch.Tensor, scales: list[torch.Tensor]) -> torch.Tensor:
    """fp32 logits [positions, vocab] of ``tokens`` after the audio of ``mel``, on the network's own device and
    dtype (the vectors' dtype is the compute dtype whatever the matrices are stored in)."""
    weight = net.decoder.norm.weight
    mel, tokens = mel.to(weight.device, weight.dtype), tokens.to(weight.device)
    scales = [s.to(weight.device, weight.dtype) for s in scales]
    with torch.inference_mode():
        state = net.encoder.new_state(1, weight.dtype, weight.device)
        audio = net.adapter(net.encoder(mel, state))[:, : tokens.shape[1]]
        decoder = net.decoder.new_state(1, weight.dtype, weight.device)
        return net.decoder(audio, tokens, decoder, scales, all_logits=True)[0].float().cpu()


def main(argv: list[str] | None = None) -> None:
    from model import load_realtime
    from model.bench.__main__ import CONFIGS, build_checkpoint, machine

    parser = argparse.ArgumentParser(prog="python -m model.bench.int8", description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=[c for c in CONFIGS if c != "full"], default="tiny")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="captionist-int8-") as tmp:
        folder = build_checkpoint(args.config, Path(tmp) / "hf", "cpu", torch.bfloat16)
        full = load_realtime(folder, device="cpu", precision="full")
        int8 = load_realtime(folder, device="cpu", precision="int8")
    audio = synthetic_audio(args.seconds)
    mel, tokens, scales = teacher_inputs(full, audio, seed=1)
    positions = tokens.shape[1]
    reference = logits(full.net, mel, tokens, scales)
    print(f"config={args.config} audio {args.seconds:g} s ({positions} positions, random input tokens); "
          f"machine: {machine()}")
    print(f"{'int8 matrices':24} {'logit error':>12} {'same argmax':>12}")
    rows = [(group, with_int8(full.net, chosen)) for group, chosen in GROUPS.items()]
    rows.append(("all (precision='int8')", int8.net))
    for group, net in rows:
        out = logits(net, mel, tokens, scales)
        error = float((out - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt())
        same = float((out.argmax(-1) == reference.argmax(-1)).float().mean())
        print(f"{group:24} {error:11.2%} {same:11.1%}")
    a, b = full.transcribe(audio, 16000).token_ids, int8.transcribe(audio, 16000).token_ids
    agreement = np.mean([x == y for x, y in zip(a, b, strict=False)]) if a else float("nan")
    print(f"greedy transcription tokens equal to full precision: {agreement:.1%} of {len(a)}")


if __name__ == "__main__":
    main()
