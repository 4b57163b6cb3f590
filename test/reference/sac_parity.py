"""Replays dsrl SAC updates in PyTorch from the same weights, batch and Gaussian draws, and prints
the largest relative differences of gradients and updated parameters (used by
test/sac-torch-parity.test.ts). Run with Debian's /usr/bin/python3 (python3-torch)."""
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

case = json.load(open(sys.argv[1]))
cfg = case["config"]
torch.set_num_threads(1)


def mlp(inp, hidden, out, layer_norm):
    layers, prev = [], inp
    for h in hidden:
        layers.append(nn.Linear(prev, h))
        if layer_norm:
            layers.append(nn.LayerNorm(h))
        layers.append(nn.ReLU())
        prev = h
    layers.append(nn.Linear(prev, out))
    return nn.Sequential(*layers)


def load(module, flat):
    # dsrl's flat order (weight, bias, ln.weight, ln.bias per layer) is torch's parameters() order.
    flat = torch.tensor(flat, dtype=torch.float32)
    off = 0
    with torch.no_grad():
        for p in module.parameters():
            n = p.numel()
            p.copy_(flat[off:off + n].view_as(p))
            off += n
    assert off == flat.numel(), (off, flat.numel())


obs_dim, act_dim = cfg["obsDim"], cfg["actDim"]
actor = mlp(obs_dim, cfg["actorHidden"], 2 * act_dim, False)
critics = [mlp(obs_dim + act_dim, cfg["criticHidden"], 1, cfg["criticLayerNorm"]) for _ in range(2)]
targets = [mlp(obs_dim + act_dim, cfg["criticHidden"], 1, cfg["criticLayerNorm"]) for _ in range(2)]
load(actor, case["init"]["actor"])
for m, w in zip(critics, case["init"]["critics"]):
    load(m, w)
for m, w in zip(targets, case["init"]["targets"]):
    load(m, w)
log_alpha = torch.tensor([case["init"]["logAlpha"]], requires_grad=True)
q_params = [p for m in critics for p in m.parameters()]
q_opt = torch.optim.Adam(q_params, lr=cfg["criticLr"])
a_opt = torch.optim.Adam(actor.parameters(), lr=cfg["actorLr"])
al_opt = torch.optim.Adam([log_alpha], lr=cfg["alphaLr"])
LMIN, LMAX = cfg["logStdMin"], cfg["logStdMax"]
B = case["batch"]["size"]
eps_all = torch.tensor(case["eps"], dtype=torch.float32).view(-1, B, act_dim)
target_entropy = -act_dim


def sample(o, eps):
    mean, raw = actor(o).chunk(2, dim=-1)
    log_std = LMIN + 0.5 * (LMAX - LMIN) * (torch.tanh(raw) + 1)
    u = mean + log_std.exp() * eps
    a = torch.tanh(u)
    logp = (-0.5 * eps ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
    return a, logp


b = case["batch"]
obs = torch.tensor(b["obs"]).view(B, obs_dim)
nobs = torch.tensor(b["nextObs"]).view(B, obs_dim)
act = torch.tensor(b["actions"]).view(B, act_dim)
rew = torch.tensor(b["rewards"])
term = torch.tensor(b["terminated"], dtype=torch.float32)
for k in range(case["updates"]):
    alpha = log_alpha.exp().detach()
    with torch.no_grad():
        na, nlogp = sample(nobs, eps_all[2 * k])
        x = torch.cat([nobs, na], 1)
        qn = torch.min(targets[0](x), targets[1](x)).squeeze(-1) - alpha * nlogp
        y = rew + (1 - term) * cfg["gamma"] * qn
    x = torch.cat([obs, act], 1)
    qf_loss = F.mse_loss(critics[0](x).squeeze(-1), y) + F.mse_loss(critics[1](x).squeeze(-1), y)
    q_opt.zero_grad()
    qf_loss.backward()
    q_opt.step()
    for p in q_params:
        p.requires_grad_(False)
    pi, logp = sample(obs, eps_all[2 * k + 1])
    x = torch.cat([obs, pi], 1)
    actor_loss = (alpha * logp - torch.min(critics[0](x), critics[1](x)).squeeze(-1)).mean()
    a_opt.zero_grad()
    actor_loss.backward()
    a_opt.step()
    for p in q_params:
        p.requires_grad_(True)
    alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
    al_opt.zero_grad()
    alpha_loss.backward()
    al_opt.step()
    with torch.no_grad():
        for t, c in zip(targets, critics):
            for tp, cp in zip(t.parameters(), c.parameters()):
                tp.mul_(1 - cfg["tau"]).add_(cp, alpha=cfg["tau"])


def flat(m, grad=False):
    return torch.cat([(p.grad if grad else p.detach()).reshape(-1) for p in m.parameters()])


def rel(a, b):
    a = torch.tensor(a, dtype=torch.float32)
    return float((a - b).abs().max() / (b.abs().max() + 1e-12))


exp = case["expected"]
print(json.dumps({
    "actor": rel(exp["actor"], flat(actor)),
    "critic0": rel(exp["critics"][0], flat(critics[0])),
    "critic1": rel(exp["critics"][1], flat(critics[1])),
    "target0": rel(exp["targets"][0], flat(targets[0])),
    "actor_grad": rel(exp["actorGrad"], flat(actor, True)),
    "critic0_grad": rel(exp["criticGrads"][0], flat(critics[0], True)),
    "critic1_grad": rel(exp["criticGrads"][1], flat(critics[1], True)),
    "log_alpha": abs(exp["logAlpha"] - float(log_alpha)),
    "qf_loss": abs(exp["qfLoss"] - float(qf_loss)) / abs(float(qf_loss)),
    "actor_loss": abs(exp["actorLoss"] - float(actor_loss)) / abs(float(actor_loss)),
}))
