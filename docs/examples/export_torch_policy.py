#!/usr/bin/env python3
"""Export a PyTorch diffusion policy to dsrl's ONNX policy contract.

    obs   float32 [B, obs_dim]   (env units)
    noise float32 [B, Ta, da]    (the initial DDIM noise, what DSRL steers)
 -> actions float32 [B, Ta, da]  (env units)

The wrapper's forward(obs, noise) runs everything a black-box caller needs: observation normalization,
the deterministic DDIM loop (eta = 0, x0 clamped to [-1, 1]) and the map from [-1, 1] to the action
bounds. torch.onnx.export traces it, unrolling the loop into one graph. Only torch is needed (the
`onnx` Python package is not). A manifest `<name>.json` beside the model gives dsrl the env id and
action bounds.

The network here is DPPO's DiffusionMLP (the base policy of the DSRL reference code) with random
weights, so the script runs anywhere; swap in your trained module and its normalization stats.

Usage: python3 export_torch_policy.py --out hopper.onnx [--seed 0] [--batch 3]
Prints one JSON line: the reference inputs and the actions PyTorch computed for them.
"""
import argparse
import json
import math

import torch
from torch import nn


class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
        a = t[:, None] * freqs[None, :]
        return torch.cat((a.sin(), a.cos()), dim=-1)


class ResidualBlock(nn.Module):
    """DPPO TwoLayerPreActivationResNetLinear: x + l2(mish(l1(mish(x))))."""

    def __init__(self, width):
        super().__init__()
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)
        self.act = nn.Mish()

    def forward(self, x):
        return x + self.l2(self.act(self.l1(self.act(x))))


class ResidualMLP(nn.Module):
    def __init__(self, dim_in, width, depth, dim_out):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim_in, width)] + [ResidualBlock(width) for _ in range(depth)] + [nn.Linear(width, dim_out)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class DiffusionMLP(nn.Module):
    """eps_theta(x_t, t, obs) on [x_t flattened, time embedding, obs] (DPPO's state_dict names)."""

    def __init__(self, obs_dim, act_dim, chunk, time_dim=16, width=256, depth=3):
        super().__init__()
        self.time_embedding = nn.Sequential(SinusoidalPosEmb(time_dim), nn.Linear(time_dim, 2 * time_dim), nn.Mish(), nn.Linear(2 * time_dim, time_dim))
        self.mlp_mean = ResidualMLP(chunk * act_dim + time_dim + obs_dim, width, depth, chunk * act_dim)

    def forward(self, x, t, obs):
        return self.mlp_mean(torch.cat([x, self.time_embedding(t), obs], dim=-1))


def cosine_alphas_cumprod(T, s=0.008, max_beta=0.999):
    f = lambda i: math.cos(((i / T + s) / (1 + s)) * math.pi * 0.5) ** 2
    out, prod = [], 1.0
    for i in range(T):
        prod *= 1 - min(max_beta, max(0.0, 1 - f(i + 1) / f(i)))
        out.append(prod)
    return out


class NoiseToActionPolicy(nn.Module):
    """forward(obs, noise) -> env-unit action chunk: the whole sampler, as dsrl's ONNX contract wants it."""

    def __init__(self, net, obs_min, obs_max, action_low, action_high, chunk, act_dim, T=20, ddim_steps=5):
        super().__init__()
        self.net, self.chunk, self.act_dim = net, chunk, act_dim
        self.register_buffer('obs_min', torch.as_tensor(obs_min, dtype=torch.float32))
        self.register_buffer('obs_max', torch.as_tensor(obs_max, dtype=torch.float32))
        low = torch.as_tensor(action_low, dtype=torch.float32)
        high = torch.as_tensor(action_high, dtype=torch.float32)
        self.register_buffer('act_mid', (high + low) / 2)
        self.register_buffer('act_half', (high - low) / 2)
        # DDIM "leading" timesteps (S-1)*r, ..., r, 0 with r = T // S; alpha_prev = 1 after t = 0.
        abar = cosine_alphas_cumprod(T)
        r = T // ddim_steps
        self.steps = []
        for level in reversed(range(ddim_steps)):
            t = level * r
            a = abar[t]
            a_prev = abar[(level - 1) * r] if level > 0 else 1.0
            self.steps.append((float(t), math.sqrt(a), math.sqrt(1 - a), math.sqrt(a_prev), math.sqrt(1 - a_prev)))

    def forward(self, obs, noise):
        obs_n = 2 * ((obs - self.obs_min) / (self.obs_max - self.obs_min + 1e-6) - 0.5)
        x = noise.flatten(1)
        for t, sa, s1a, sap, s1ap in self.steps:  # a Python loop: traced, so unrolled in the graph
            tt = torch.full_like(x[:, 0], t)
            eps = self.net(x, tt, obs_n)
            x0 = ((x - s1a * eps) / sa).clamp(-1, 1)
            eps = (x - sa * x0) / s1a
            x = sap * x0 + s1ap * eps
        x = x.clamp(-1, 1).reshape(-1, self.chunk, self.act_dim)
        return self.act_mid + self.act_half * x


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output .onnx file; the manifest goes beside it as <name>.json')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--batch', type=int, default=3, help='reference rows printed for checking')
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    obs_dim, act_dim, chunk = 11, 3, 4  # Hopper-v5 with Ta = 4
    action_low, action_high = [-1.0] * act_dim, [1.0] * act_dim
    obs_min = (-1 - torch.rand(obs_dim)).tolist()
    obs_max = (1 + torch.rand(obs_dim)).tolist()
    net = DiffusionMLP(obs_dim, act_dim, chunk, time_dim=16, width=64, depth=2)
    for prm in net.parameters():  # smaller weights: fewer actions clamped at the bounds, a sharper check
        prm.data.mul_(0.5)
    policy = NoiseToActionPolicy(net, obs_min, obs_max, action_low, action_high, chunk, act_dim).eval()

    obs = torch.randn(args.batch, obs_dim)
    noise = torch.randn(args.batch, chunk, act_dim)
    with torch.no_grad():
        actions = policy(obs, noise)
        torch.onnx.export(
            policy, (obs, noise), args.out,
            input_names=['obs', 'noise'], output_names=['actions'],
            dynamic_axes={'obs': {0: 'B'}, 'noise': {0: 'B'}, 'actions': {0: 'B'}},
            opset_version=17,
        )
    manifest_path = args.out[:-5] + '.json' if args.out.endswith('.onnx') else args.out + '.json'
    with open(manifest_path, 'w') as f:
        json.dump({
            'format': 'dsrl-onnx-policy', 'formatVersion': 1,
            'obsDim': obs_dim, 'actDim': act_dim, 'chunk': chunk,
            'actionLow': action_low, 'actionHigh': action_high,
            'envId': 'Hopper-v5', 'producer': f'torch.onnx.export (torch {torch.__version__})',
            'source': {'script': 'docs/examples/export_torch_policy.py', 'seed': args.seed, 'denoisingSteps': 20, 'ddimSteps': 5},
        }, f, indent=2)
    print(json.dumps({
        'model': args.out, 'manifest': manifest_path, 'batch': args.batch,
        'obs': obs.flatten().tolist(), 'noise': noise.flatten().tolist(), 'actions': actions.flatten().tolist(),
    }))


if __name__ == '__main__':
    main()
