"""PyTorch reference for `npm run bench:nn`: the same SAC update as src/algos/sac.ts, written the way a
careful PyTorch user would (CleanRL's structure, plus foreach Adam, foreach Polyak, and critic
parameters frozen during the actor loss so no wasted gradients). Prints one JSON line.

Run with Debian's python3-torch (PyTorch 1.13, CPU): /usr/bin/python3 bench/reference/sac_update.py
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)  # measured fastest on 2 cores: OpenBLAS keeps its own threads
OBS, ACT, BATCH = 17, 6, 256
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(inp, hidden, depth, out, layer_norm):
    layers, prev = [], inp
    for _ in range(depth):
        layers.append(nn.Linear(prev, hidden))
        if layer_norm:
            layers.append(nn.LayerNorm(hidden))
        layers.append(nn.ReLU())
        prev = hidden
    layers.append(nn.Linear(prev, out))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.net = mlp(OBS, hidden, 3, 2 * ACT, False)

    def sample(self, obs):
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return a, logp


def bench_update(hidden, seconds):
    torch.manual_seed(0)
    actor = Actor(hidden)
    q = [mlp(OBS + ACT, hidden, 3, 1, True) for _ in range(2)]
    qt = [mlp(OBS + ACT, hidden, 3, 1, True) for _ in range(2)]
    for t, s in zip(qt, q):
        t.load_state_dict(s.state_dict())
    q_params = [p for m in q for p in m.parameters()]
    qt_params = [p for m in qt for p in m.parameters()]
    q_opt = torch.optim.Adam(q_params, lr=3e-4, foreach=True)
    a_opt = torch.optim.Adam(actor.parameters(), lr=3e-4, foreach=True)
    log_alpha = torch.zeros(1, requires_grad=True)
    al_opt = torch.optim.Adam([log_alpha], lr=3e-4)
    target_entropy = -ACT
    obs, act = torch.randn(BATCH, OBS), torch.rand(BATCH, ACT) * 2 - 1
    rew, nobs = torch.randn(BATCH), torch.randn(BATCH, OBS)
    term = (torch.rand(BATCH) < 0.05).float()

    def update():
        alpha = log_alpha.exp().detach()
        with torch.no_grad():
            na, nlogp = actor.sample(nobs)
            x = torch.cat([nobs, na], 1)
            qn = torch.min(qt[0](x), qt[1](x)).squeeze(-1) - alpha * nlogp
            y = rew + (1 - term) * 0.99 * qn
        x = torch.cat([obs, act], 1)
        qf_loss = F.mse_loss(q[0](x).squeeze(-1), y) + F.mse_loss(q[1](x).squeeze(-1), y)
        q_opt.zero_grad(set_to_none=True)
        qf_loss.backward()
        q_opt.step()
        for p in q_params:
            p.requires_grad_(False)
        pi, logp = actor.sample(obs)
        x = torch.cat([obs, pi], 1)
        actor_loss = (alpha * logp - torch.min(q[0](x), q[1](x)).squeeze(-1)).mean()
        a_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        a_opt.step()
        for p in q_params:
            p.requires_grad_(True)
        alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
        al_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        al_opt.step()
        with torch.no_grad():
            torch._foreach_mul_(qt_params, 1 - 0.005)
            torch._foreach_add_(qt_params, q_params, alpha=0.005)

    for _ in range(3):
        update()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        update()
        n += 1
    return n / (time.perf_counter() - t0)


def bench_infer(seconds):
    torch.manual_seed(0)
    net = mlp(OBS, 256, 3, ACT, False)
    x = torch.randn(1, OBS)
    with torch.no_grad():
        for _ in range(100):
            net(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            net(x)
            n += 1
    return (time.perf_counter() - t0) / n * 1e6


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    which = sys.argv[2] if len(sys.argv) > 2 else "all"
    out = {"torch": torch.__version__}
    if which in ("all", "256"):
        out["h256_updates_per_s"] = bench_update(256, seconds)
    if which in ("all", "1024"):
        out["h1024_updates_per_s"] = bench_update(1024, seconds)
    if which in ("all", "infer"):
        out["infer_us"] = bench_infer(seconds)
    print(json.dumps(out))
