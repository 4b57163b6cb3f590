"""PyTorch side of `npm run bench:speed`: the diffusion policy of bench/reference/diffusion_policy.py (same
network, DDIM sampler and weights as ours) at fp32 and at bf16 (`.to(torch.bfloat16)`: weights and activations,
what a PyTorch user writes; oneDNN runs the products on the CPU's bf16 units where it has them), 1 thread.

Runs as a child of bench/speed.ts so the two time in alternating rounds under the same load: loads the folder
the bench wrote, prints one JSON line (`ready`: versions and action differences against ours), then for each
`round SECONDS` line on stdin prints one JSON line of per-call times (best window of the round), until `quit`.

  /usr/bin/python3 bench/reference/speed.py DIR
"""
import copy
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diffusion_policy import DiffusionMLP, Sampler, SinusoidalPosEmb, read_safetensors  # noqa: E402

torch.set_num_threads(1)  # the bench compares engines on one core each (bench/reference/sac_update.py does too)


class CastPosEmb(SinusoidalPosEmb):
    """The sinusoidal embedding is computed in fp32 from integer steps; cast it to the network's dtype."""

    def __init__(self, dim, dtype):
        super().__init__(dim)
        self.dtype = dtype

    def forward(self, x):
        return super().forward(x).to(self.dtype)


class UpcastMish(nn.Module):
    """Mish in fp32 between bf16 layers: PyTorch 1.13 has no bf16 CPU kernel for it ("mish_cpu" not implemented
    for 'BFloat16'). Measured here, this is faster than x * tanh(softplus(x)) in bf16 (0.97 vs 1.34 ms on a
    256 x 512 input), and it is what dsrl's bf16 path does too (only the products run in bf16)."""

    def forward(self, x):
        return nn.functional.mish(x.float()).to(x.dtype)


def replace_mish(module):
    for name, child in module.named_children():
        if isinstance(child, nn.Mish):
            setattr(module, name, UpcastMish())
        else:
            replace_mish(child)


def best_per_call(fn, seconds, windows=3):
    """Seconds per call: the best of `windows` windows (slower windows measure other load, not the code)."""
    fn()
    best = float("inf")
    for _ in range(windows):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds / windows and n >= 2:
                break
        best = min(best, dt / n)
    return best


def main():
    folder = sys.argv[1]
    cfg = json.load(open(f"{folder}/config.json"))
    io = read_safetensors(f"{folder}/io.safetensors")
    weights = {k[len("ema."):]: v for k, v in read_safetensors(f"{folder}/model.safetensors").items() if k.startswith("ema.")}
    x_dim = cfg["chunk"] * cfg["actDim"]
    net = DiffusionMLP(x_dim, cfg["obsDim"], cfg["timeDim"], cfg["width"], cfg["depth"])
    net.load_state_dict(weights, strict=True)
    net.eval()
    bf = torch.bfloat16
    net16 = copy.deepcopy(net)
    net16.time_embedding[0] = CastPosEmb(cfg["timeDim"], bf)
    replace_mish(net16)
    net16 = net16.to(bf).eval()
    stats = [io[k] for k in ("obs_min", "obs_max", "low", "high")]
    fp32 = Sampler(net, cfg["T"], cfg["S"], *stats)
    bf16 = Sampler(net16, cfg["T"], cfg["S"], *[s.to(bf) for s in stats])

    # Both against our fp32 actions on the same inputs: fp32 checks the port, bf16 shows the precision's cost.
    obs, noise = io["obs"], io["noise"]
    diff32 = float((fp32(obs, noise) - io["actions"]).abs().max())
    diff16 = float((bf16(obs.to(bf), noise.to(bf)).float() - io["actions"]).abs().max())
    print(json.dumps({"ready": True, "torch": torch.__version__, "max_diff_fp32": diff32, "max_diff_bf16": diff16,
                      "mkldnn_bf16": bool(getattr(torch.backends.mkldnn, "is_available", lambda: False)())}), flush=True)

    n = io["obs256"].shape[0]
    inputs = {
        "fp32": (fp32, io["obs256"], io["noise256"]),
        "bf16": (bf16, io["obs256"].to(bf), io["noise256"].to(bf)),
    }
    r = 0
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        seconds = float(parts[1])
        out = {}
        order = ["fp32", "bf16"] if r % 2 == 0 else ["bf16", "fp32"]
        with torch.no_grad():
            for name in order:
                sampler, o, w = inputs[name]
                o1, w1 = o[:1].clone(), w[:1].clone()
                out[f"{name}_b{n}_ms"] = best_per_call(lambda: sampler(o, w), seconds) * 1e3
                out[f"{name}_b1_us"] = best_per_call(lambda: sampler(o1, w1), seconds) * 1e6
        r += 1
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
