"""PyTorch reference for `npm run bench:policy`: the same diffusion policy as src/policies/diffusion,
written as DPPO writes it (DiffusionMLP with residual_style, SinusoidalPosEmb, DDIM eta = 0 with the
x0 clamp and eps recomputation). It loads the weights and inputs bench/policy.ts wrote, checks its
actions against ours, then times one DDIM chunk at batch 1 and at batch 256. Prints one JSON line.

Run with Debian's python3-torch (PyTorch 1.13, CPU): /usr/bin/python3 bench/reference/diffusion_policy.py DIR SECONDS
"""
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn

torch.set_num_threads(1)  # as bench/reference/sac_update.py: fastest on the 2-core machine


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        assert entry["dtype"] == "F32"
        out[name] = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=torch.float32).reshape(entry["shape"])
    return out


class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        half = self.dim // 2
        emb = math.log(10000) / (half - 1)
        emb = torch.exp(torch.arange(half, device=x.device) * -emb)
        emb = x[:, None] * emb[None, :]
        return torch.cat((emb.sin(), emb.cos()), dim=-1)


class TwoLayerPreActivationResNetLinear(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.l1 = nn.Linear(dim, dim)
        self.l2 = nn.Linear(dim, dim)
        self.act = nn.Mish()

    def forward(self, x):
        return x + self.l2(self.act(self.l1(self.act(x))))


class ResidualMLP(nn.Module):
    def __init__(self, inp, width, depth, out):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(inp, width)])
        self.layers.extend([TwoLayerPreActivationResNetLinear(width) for _ in range(depth)])
        self.layers.append(nn.Linear(width, out))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class DiffusionMLP(nn.Module):
    def __init__(self, x_dim, obs_dim, time_dim, width, depth):
        super().__init__()
        self.time_dim = time_dim
        self.time_embedding = nn.Sequential(
            SinusoidalPosEmb(time_dim), nn.Linear(time_dim, 2 * time_dim), nn.Mish(), nn.Linear(2 * time_dim, time_dim)
        )
        self.mlp_mean = ResidualMLP(x_dim + time_dim + obs_dim, width, depth, x_dim)

    def forward(self, x, t, obs):
        return self.mlp_mean(torch.cat([x, self.time_embedding(t), obs], dim=-1))


def cosine_alphas_cumprod(T, s=0.008):
    steps = T + 1
    x = torch.linspace(0, steps, steps, dtype=torch.float64)
    ac = torch.cos(((x / steps) + s) / (1 + s) * math.pi * 0.5) ** 2
    ac = ac / ac[0]
    betas = torch.clip(1 - (ac[1:] / ac[:-1]), 0, 0.999)
    return torch.cumprod(1 - betas, 0)


class Sampler:
    def __init__(self, net, T, S, obs_min, obs_max, low, high):
        self.net = net
        acp = cosine_alphas_cumprod(T)
        r = T // S
        ddim_t = torch.arange(0, S) * r
        alphas = acp[ddim_t]
        alphas_prev = torch.cat([torch.ones(1, dtype=torch.float64), acp[ddim_t[:-1]]])
        self.t = [int(t) for t in torch.flip(ddim_t, [0])]
        self.alphas = [float(a) for a in torch.flip(alphas, [0])]
        self.alphas_prev = [float(a) for a in torch.flip(alphas_prev, [0])]
        self.obs_min, self.obs_max, self.low, self.high = obs_min, obs_max, low, high

    @torch.no_grad()
    def __call__(self, obs, noise):
        obs = 2 * ((obs - self.obs_min) / (self.obs_max - self.obs_min + 1e-6) - 0.5)
        x = noise
        B = x.shape[0]
        for t, a, ap in zip(self.t, self.alphas, self.alphas_prev):
            eps = self.net(x, torch.full((B,), t, dtype=torch.long), obs)
            x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp_(-1, 1)
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
            x = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps
        x = x.clamp(-1, 1).view(B, -1, self.low.shape[0])
        return (self.low + (x + 1) * 0.5 * (self.high - self.low)).view(B, -1)


def per_call(fn, seconds, windows=7):
    """Median seconds per call over several timing windows (robust to other load on the machine)."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(windows):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds / windows and n >= 2:
                break
        times.append(dt / n)
    return sorted(times)[len(times) // 2]


def main():
    folder, seconds = sys.argv[1], float(sys.argv[2])
    cfg = json.load(open(f"{folder}/config.json"))
    io = read_safetensors(f"{folder}/io.safetensors")
    weights = {k[len("ema."):]: v for k, v in read_safetensors(f"{folder}/model.safetensors").items() if k.startswith("ema.")}
    x_dim = cfg["chunk"] * cfg["actDim"]
    net = DiffusionMLP(x_dim, cfg["obsDim"], cfg["timeDim"], cfg["width"], cfg["depth"])
    net.load_state_dict(weights, strict=True)  # names and shapes must match ours exactly
    net.eval()
    sampler = Sampler(net, cfg["T"], cfg["S"], io["obs_min"], io["obs_max"], io["low"], io["high"])
    ours = io["actions"]
    theirs = sampler(io["obs"], io["noise"])
    max_diff = float((theirs - ours).abs().max())

    obs1, noise1 = io["obs"][:1].clone(), io["noise"][:1].clone()
    latency = per_call(lambda: sampler(obs1, noise1), seconds)
    gen = torch.Generator().manual_seed(0)
    obs256 = torch.randn(256, cfg["obsDim"], generator=gen)
    noise256 = torch.randn(256, x_dim, generator=gen)
    batch256 = per_call(lambda: sampler(obs256, noise256), seconds)
    print(json.dumps({"torch": torch.__version__, "chunk_latency_us": latency * 1e6, "batch256_ms": batch256 * 1e3, "max_abs_diff": max_diff}))


if __name__ == "__main__":
    main()
