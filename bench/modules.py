"""Network modules: forward + backward time of each rl4py module beside the same computation in bare torch.

Sizes are the seed book's examples: batch 64, 30 entities of 128 features, a 2-layer encoder
with 4 heads and a 512 feed-forward, a 256-dim query (the LSTM output), 4 pooling queries with
2 heads, a pointer network with a 64-unit hidden layer, FiLM from a 32-dim context onto 128
features, the Nature-DQN conv encoder on 84x84 RGB images (uint8) and its mirrored decoder, a
beta-VAE with a 32-dim latent and beta 4. About 20% of the entities are masked out.

Each torch peer computes the same thing with the same parameters (the bench checks that the
outputs agree before timing): ``nn.TransformerEncoder`` of the same layers, the target / pointer
attention math written inline on the same ``nn.Linear`` layers, ``nn.MultiheadAttention`` with
the learned queries, the conv layers as one ``nn.Sequential``, and so on. ``overhead`` is
``rl4py_ms / torch_ms - 1``: what rl4py's wrappers (argument checks, mask conversion, empty-row
handling, TensorDict outputs) cost.

Timing: a backward through a fixed random output gradient after every forward; the two
implementations run alternately in rounds of ~50 ms of calls. ``rl4py_ms`` / ``torch_ms`` are
the best round's mean time per call (the least disturbed by other processes on a shared
machine) and ``overhead`` their ratio minus 1; the medians over rounds are printed beside them.
Prints one JSON line per module::

    python bench/modules.py
    python bench/modules.py --quick            # fewer rounds
    python bench/modules.py --device cuda --threads 4
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from rl4py.modules import MLP
from rl4py.modules.attention import AttentionPooling, PointerNetwork, TargetAttention, TransformerEncoder
from rl4py.modules.conv import ConvDecoder, ConvEncoder
from rl4py.modules.film import FiLM
from rl4py.modules.multi_encoder import MultiEncoder
from rl4py.modules.vae import BetaVAE

BATCH, ENTITIES, D_MODEL, QUERY_DIM = 64, 30, 128, 256

Case = tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]


def _entities(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(BATCH, ENTITIES, D_MODEL, device=device)
    mask = torch.rand(BATCH, ENTITIES, device=device) < 0.8
    mask[:, 0] = True
    return x, mask


def transformer(device: torch.device, masked: bool = True) -> Case:
    ours = TransformerEncoder(D_MODEL, n_heads=4, n_layers=2, dim_feedforward=512).to(device)
    layer = nn.TransformerEncoderLayer(D_MODEL, 4, 512, 0.0, batch_first=True, norm_first=True)
    ref = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D_MODEL), enable_nested_tensor=False).to(device)
    ref.load_state_dict(ours.state_dict())
    x, mask = _entities(device)
    x.requires_grad_(True)
    if not masked:
        return (lambda: ours(x)), (lambda: ref(x))
    # the bare-torch caller converts the validity mask and zeroes the padded outputs itself
    return (lambda: ours(x, mask)), (lambda: ref(x, src_key_padding_mask=~mask).masked_fill(~mask.unsqueeze(-1), 0))


def target_attention(device: torch.device) -> Case:
    ours = TargetAttention(QUERY_DIM, D_MODEL, hidden_dim=D_MODEL).to(device)
    query = torch.randn(BATCH, QUERY_DIM, device=device, requires_grad=True)
    keys, mask = _entities(device)
    scale = 1.0 / math.sqrt(D_MODEL)

    def bare() -> torch.Tensor:
        q = ours.query_proj(query) * scale
        logits = torch.matmul(ours.key_proj(keys), q.unsqueeze(-1)).squeeze(-1)
        return logits.masked_fill(~mask, torch.finfo(logits.dtype).min).softmax(-1)

    return (lambda: ours.probs(query, keys, mask)), bare


def pointer(device: torch.device) -> Case:
    ours = PointerNetwork(QUERY_DIM, D_MODEL, hidden_dim=64).to(device)
    query = torch.randn(BATCH, QUERY_DIM, device=device, requires_grad=True)
    keys, mask = _entities(device)

    def bare() -> torch.Tensor:
        hidden = torch.tanh(ours.key_proj(keys) + ours.query_proj(query).unsqueeze(1))
        logits = ours.v(hidden).squeeze(-1)
        return logits.masked_fill(~mask, torch.finfo(logits.dtype).min).softmax(-1)

    return (lambda: ours.probs(query, keys, mask)), bare


def attention_pooling(device: torch.device) -> Case:
    ours = AttentionPooling(D_MODEL, n_queries=4, n_heads=2).to(device)
    x, mask = _entities(device)
    x.requires_grad_(True)

    def bare() -> torch.Tensor:
        queries = ours.queries.unsqueeze(0).expand(BATCH, -1, -1)
        out, _ = ours.attention(queries, x, x, key_padding_mask=~mask, need_weights=False)
        return out.reshape(BATCH, -1)

    return (lambda: ours(x, mask)), bare


def film(device: torch.device) -> Case:
    ours = FiLM(32, D_MODEL).to(device)
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.1)
    x = torch.randn(BATCH, D_MODEL, device=device, requires_grad=True)
    context = torch.randn(BATCH, 32, device=device)
    return (lambda: ours(x, context)), (lambda: (1 + ours.gamma(context)) * x + ours.beta(context))


def conv_encoder(device: torch.device) -> Case:
    ours = ConvEncoder(3, 84).to(device)
    images = torch.randint(0, 256, (BATCH, 3, 84, 84), dtype=torch.uint8, device=device)
    return (lambda: ours(images)), (lambda: ours.net(images.float() / 255.0))


def conv_decoder(device: torch.device) -> Case:
    ours = ConvDecoder.from_encoder(ConvEncoder(3, 84)).to(device)
    z = torch.randn(BATCH, 512, device=device, requires_grad=True)
    return (lambda: ours(z)), (lambda: ours.net(z))


def multi_encoder(device: torch.device) -> Case:
    from tensordict import TensorDict

    encoders = {("observation", "pixels"): ConvEncoder(3, 84), ("observation", "state"): MLP(32, 64)}
    ours = MultiEncoder(encoders).to(device)
    obs = TensorDict(
        {
            "observation": {
                "pixels": torch.randint(0, 256, (BATCH, 3, 84, 84), dtype=torch.uint8),
                "state": torch.randn(BATCH, 32),
            }
        },
        batch_size=[BATCH],
        device=device,
    )
    pixels_enc, state_enc = ours.encoders

    def bare() -> torch.Tensor:
        pixels = obs["observation", "pixels"].float() / 255.0
        return torch.cat([pixels_enc.net(pixels), state_enc(obs["observation", "state"])], -1)

    return (lambda: ours(obs)), bare


def multi_encoder_vectors(device: torch.device) -> Case:
    from tensordict import TensorDict

    sizes = {"state": 32, "goal": 8, "opponent": 16}
    ours = MultiEncoder({k: MLP(n, 64) for k, n in sizes.items()}).to(device)
    obs = TensorDict({k: torch.randn(BATCH, n) for k, n in sizes.items()}, batch_size=[BATCH], device=device)
    encoders = list(ours.encoders)

    def bare() -> torch.Tensor:
        return torch.cat([enc(obs[k]) for enc, k in zip(encoders, sizes)], -1)

    return (lambda: ours(obs)), bare


def beta_vae(device: torch.device) -> Case:
    ours = BetaVAE(input_dim=D_MODEL, latent_dim=32, hidden=(128, 128), beta=4.0).to(device)
    x = torch.randn(BATCH, D_MODEL, device=device)

    def ours_loss() -> torch.Tensor:
        torch.manual_seed(0)
        losses = ours.loss(x)
        return losses["loss_reconstruction"] + losses["loss_kl"]

    def bare() -> torch.Tensor:
        torch.manual_seed(0)
        mu, logvar = ours.encoder(x).chunk(2, -1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        recon = (ours.decoder(z) - x).square().sum(-1).mean()
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1).mean()
        return recon + 4.0 * kl

    return ours_loss, bare


def mlp_rmsnorm(device: torch.device) -> Case:
    ours = MLP(D_MODEL, 64, num_cells=(256, 256), activation=nn.SiLU, norm=nn.RMSNorm).to(device)
    layers = [nn.Linear(D_MODEL, 256), nn.RMSNorm(256), nn.SiLU(), nn.Linear(256, 256), nn.RMSNorm(256), nn.SiLU()]
    ref = nn.Sequential(*layers, nn.Linear(256, 64)).to(device)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(BATCH, D_MODEL, device=device)
    return (lambda: ours(x)), (lambda: ref(x))


CASES: dict[str, Callable[[torch.device], Case]] = {
    "transformer_encoder": transformer,
    "transformer_encoder_nomask": lambda device: transformer(device, masked=False),
    "target_attention": target_attention,
    "pointer_network": pointer,
    "attention_pooling": attention_pooling,
    "film": film,
    "conv_encoder": conv_encoder,
    "conv_decoder": conv_decoder,
    "multi_encoder": multi_encoder,
    "multi_encoder_vectors": multi_encoder_vectors,
    "beta_vae_loss": beta_vae,
    "mlp_rmsnorm": mlp_rmsnorm,
}


def _step(fn: Callable[[], torch.Tensor], grad: torch.Tensor) -> None:
    fn().backward(grad)


def measure(
    ours: Callable[[], torch.Tensor], bare: Callable[[], torch.Tensor], rounds: int, device: torch.device
) -> tuple[dict[str, list[float]], int]:
    """Milliseconds per forward + backward of each implementation, one figure per round."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = ours()
    grad = torch.randn_like(out) if out.dim() else torch.ones_like(out)
    for _ in range(5):
        _step(ours, grad)
        _step(bare, grad)
    sync()
    start = time.perf_counter()
    for _ in range(5):
        _step(bare, grad)
    sync()
    per_call = (time.perf_counter() - start) / 5
    calls = max(3, min(500, int(0.05 / max(per_call, 1e-6))))  # ~50 ms per block
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    for r in range(rounds):
        order = (("ours", ours), ("bare", bare)) if r % 2 == 0 else (("bare", bare), ("ours", ours))
        for name, fn in order:
            sync()
            start = time.perf_counter()
            for _ in range(calls):
                _step(fn, grad)
            sync()
            times[name].append((time.perf_counter() - start) / calls * 1e3)
    return times, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steadier timings)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="run these modules only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds = 5 if args.quick else args.rounds
    for name in args.only or CASES:
        torch.manual_seed(0)
        ours, bare = CASES[name](device)
        with torch.no_grad():
            a, b = ours(), bare()
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=lambda m, n=name: f"{n}: the peers differ: {m}")
        times, calls = measure(ours, bare, rounds, device)
        rl4py_ms, torch_ms = min(times["ours"]), min(times["bare"])
        record = {
            "bench": "modules",
            "module": name,
            "rl4py_ms": round(rl4py_ms, 4),
            "torch_ms": round(torch_ms, 4),
            "overhead": round(rl4py_ms / torch_ms - 1, 4),
            "rl4py_median_ms": round(statistics.median(times["ours"]), 4),
            "torch_median_ms": round(statistics.median(times["bare"]), 4),
            "batch": BATCH,
            "device": str(device),
            "threads": args.threads,
            "calls_per_round": calls,
            "rounds": rounds,
        }
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
