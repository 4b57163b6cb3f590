#!/usr/bin/python3
"""Serve an env (a robot driver or a Gymnasium env) to dsrl over the remote env protocol (docs/remote-env.md).

Debian: apt-get install python3-websockets python3-numpy. Usage:
  remote_env_adapter.py --env my_module:make_env [--port 8770] [--rate 20] [--watchdog 0.5] [--token T]
`make_env()` returns an object with Gymnasium's reset(seed=None) -> (obs, info) and
step(action) -> (obs, reward, terminated, truncated, info), observation_space / action_space with
.low / .high, and optionally stop() (halt the hardware), workspace ({"low", "high", "indices"}) and
chunk. Each connection gets its own make_env() (a robot's factory returns its one driver).
A step that the robot's own teleop drove (an operator took over) says so in its info:
{"intervention": True, "executed_action": <the action that ran>}; the step reply then carries
intervention, intervention_steps and executed_actions (every executed row) for dsrl to learn from.
"""
import argparse, asyncio, hmac, importlib, json, os, sys, time
import numpy as np
import websockets

VERSION = 1


def bounds(values):
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def out(line):
    print(line, flush=True)


class Session:
    def __init__(self, ws, env, args):
        self.ws, self.env, self.args = ws, env, args
        self.period = 1.0 / args.rate if args.rate > 0 else 0.0
        self.stop_event = asyncio.Event()
        self.episode_running = False
        self.last_heard = time.monotonic()  # last message from dsrl or last reply sent

    def halt(self, why):
        self.stop_event.set()
        self.episode_running = False  # the watchdog fires once per silence
        if hasattr(self.env, "stop"):
            self.env.stop()
        out(f"stop: {why}")

    async def send(self, msg):
        await self.ws.send(json.dumps(msg))  # NaN is written as NaN: dsrl refuses it, naming the field
        self.last_heard = time.monotonic()

    async def watchdog(self):
        # Stop on our own when dsrl says nothing while an episode runs (learner or link stalled).
        while True:
            await asyncio.sleep(self.args.watchdog / 10)
            idle = time.monotonic() - self.last_heard
            if self.episode_running and not self.busy and idle > self.args.watchdog:
                self.halt(f"watchdog: nothing from dsrl for {idle * 1000:.0f} ms")

    async def run_chunk(self, msg):
        actions = np.asarray(msg["actions"], dtype=np.float32)
        if actions.ndim != 2 or actions.shape[1] != self.act_dim or not np.all(np.isfinite(actions)):
            return {"type": "error", "id": msg.get("id"), "code": "bad-request", "message": f"actions must be finite, shape [k, {self.act_dim}]"}
        total, steps, info = 0.0, 0, {}
        obs, term, trunc = self.obs, False, False
        executed, taken_over = [], 0
        for a in actions:
            if self.stop_event.is_set():
                info["stopped"] = True
                break
            t0 = time.monotonic()
            obs, r, term, trunc, info = self.env.step(a)
            info = dict(info)
            ran = info.pop("executed_action", None)
            if info.pop("intervention", False):  # the robot's teleop drove this step: report what ran
                if ran is None:
                    raise ValueError("the env reported an intervention without its executed_action")
                taken_over += 1
            executed.append([float(x) for x in np.ravel(ran if ran is not None else a)])
            total, steps = total + float(r), steps + 1
            if term or trunc:
                break
            await asyncio.sleep(max(0.0, self.period - (time.monotonic() - t0)))  # the control rate; lets stop in
        self.obs = obs
        self.episode_running = not (term or trunc)
        if taken_over:
            info.update(intervention=True, intervention_steps=taken_over, executed_actions=executed)
        return {"type": "step", "id": msg["id"], "obs": [float(x) for x in np.ravel(obs)], "reward": total,
                "terminated": bool(term), "truncated": bool(trunc), "info": dict(info), "steps": steps}

    async def serve(self):
        env = self.env
        self.act_dim = int(np.prod(env.action_space.shape))
        hello = {"type": "hello", "version": VERSION, "env": getattr(env, "env_id", type(env).__name__),
                 "spaces": {"observation": {"low": bounds(env.observation_space.low), "high": bounds(env.observation_space.high)},
                            "action": {"low": bounds(env.action_space.low), "high": bounds(env.action_space.high)}},
                 "controlHz": self.args.rate or None}
        for key in ("chunk", "workspace"):
            if getattr(env, key, None) is not None:
                hello[key] = getattr(env, key)
        await self.send(hello)
        self.busy, self.obs = False, None
        dog = asyncio.ensure_future(self.watchdog())
        step_task = None
        try:
            async for text in self.ws:
                self.last_heard = time.monotonic()
                msg = json.loads(text)
                kind = msg.get("type")
                if kind == "stop":  # read while a chunk runs: the chunk loop sees it before its next action
                    self.halt(f"stop from dsrl ({msg.get('reason', '')})")
                elif kind == "reset":
                    try:
                        obs, info = env.reset(seed=msg.get("seed"))
                    except Exception as e:  # the env's own failure: tell dsrl, keep serving
                        await self.send({"type": "error", "id": msg.get("id"), "code": "env-error", "message": repr(e)})
                        continue
                    self.obs, self.episode_running = obs, True
                    await self.send({"type": "reset", "id": msg["id"], "obs": [float(x) for x in np.ravel(obs)], "info": dict(info)})
                elif kind == "step":
                    self.stop_event.clear()  # here, not in the task: a stop read before the task starts must hold
                    async def run(m=msg):
                        self.busy = True
                        try:
                            reply = await self.run_chunk(m)
                        except Exception as e:
                            self.halt(f"env error {e!r}")
                            reply = {"type": "error", "id": m.get("id"), "code": "env-error", "message": repr(e)}
                        finally:
                            self.busy = False
                        await self.send(reply)
                    step_task = asyncio.ensure_future(run())
                else:
                    await self.send({"type": "error", "id": msg.get("id"), "code": "bad-request", "message": f"unknown type {kind!r}"})
        finally:
            dog.cancel()
            if step_task is not None:
                step_task.cancel()
            if self.episode_running:
                self.halt("connection closed")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--env", required=True, help="module:factory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8770)
    p.add_argument("--rate", type=float, default=20.0, help="control rate in Hz (0: as fast as the env steps)")
    p.add_argument("--watchdog", type=float, default=0.5, help="seconds of silence from dsrl before stopping")
    p.add_argument("--token", default=os.environ.get("DSRL_ENV_TOKEN"))
    args = p.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.token:
        sys.exit("a token is required on a non-loopback address (--token or DSRL_ENV_TOKEN)")
    module, factory = args.env.split(":")
    make_env = getattr(importlib.import_module(module), factory)

    async def handler(ws, path=None):
        headers = getattr(getattr(ws, "request", None), "headers", None) or ws.request_headers
        given = headers.get("Authorization", "")[len("Bearer "):]
        if args.token and not hmac.compare_digest(given.encode(), args.token.encode()):
            await ws.send(json.dumps({"type": "error", "id": None, "code": "unauthorized", "message": "missing or wrong token"}))
            return await ws.close(1008, "unauthorized")
        await Session(ws, make_env(), args).serve()

    async with websockets.serve(handler, args.host, args.port, max_size=1 << 22):
        out(f"listening on ws://{args.host}:{args.port}")
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
