/**
 * The operator page's takeover (docs/operator.md, "Taking over from the page"), as JavaScript the page
 * inlines (it has no build step). TELEOP_MAP_JS is the pure mapping from keys, sticks, gripper state and
 * speed to one action (tests evaluate it on its own); TELEOP_PAGE_JS the controller around it: while
 * Shift or the gamepad's LB is held it sends `{"type": "teleop", "action": [...]}` every 50 ms and at
 * every key change, and `{"type": "teleop", "action": null}` on release (also when the page loses focus
 * or is hidden). A refused message stops the stream until the dead-man is pressed again.
 *
 * Layout (KeyboardEvent.code, so any keyboard layout's physical keys): W/S, A/D, R/F, I/K, J/L, U/O drive
 * dims 0..5 up / down; with a 7-dimensional action (the manipulation tasks' [dx, dy, dz, drx, dry, drz,
 * gripper]) G toggles the gripper (dim 6: low = open, high = closed). Gamepad (the standard mapping):
 * left stick up / left = dims 0 / 1, right stick up = dim 2, right stick left = dim 5 with 7 dims (yaw),
 * else dim 3; A toggles the gripper; a dead zone of 0.15. A deflection d in [-1, 1] gives
 * neutral + d * speed * (high - neutral) (or (neutral - low) below it); neutral is 0 when the bounds hold
 * it (a delta action's "no motion"), else their middle. Undriven dims stay at neutral.
 */
export const TELEOP_MAP_JS = String.raw`
const TELEOP_KEYS = [['KeyW', 'KeyS'], ['KeyA', 'KeyD'], ['KeyR', 'KeyF'], ['KeyI', 'KeyK'], ['KeyJ', 'KeyL'], ['KeyU', 'KeyO']];
const GRIPPER_KEY = 'KeyG';
const DEAD_ZONE = 0.15;
function teleopLayout(dim) {
  const manip = dim === 7;
  return { gripper: manip ? 6 : null, sticks: [[1, 0], [0, 1], [3, 2], [2, manip ? 5 : 3]] };
}
function deadZone(v) {
  const a = Math.abs(v);
  return a < DEAD_ZONE ? 0 : Math.sign(v) * Math.min(1, (a - DEAD_ZONE) / (1 - DEAD_ZONE));
}
function teleopAction(input, space) {
  const d = space.low.length;
  const layout = teleopLayout(d);
  const dir = new Array(d).fill(0);
  TELEOP_KEYS.forEach(([up, down], j) => {
    if (j < d && j !== layout.gripper) dir[j] += (input.keys.has(up) ? 1 : 0) - (input.keys.has(down) ? 1 : 0);
  });
  for (const [axis, j] of layout.sticks) if (j < d && j !== layout.gripper) dir[j] -= deadZone(input.axes[axis] || 0);
  return dir.map((v, j) => {
    const low = space.low[j], high = space.high[j];
    if (j === layout.gripper) return input.gripperClosed ? high : low;
    const neutral = low <= 0 && 0 <= high ? 0 : (low + high) / 2;
    const x = Math.max(-1, Math.min(1, v)) * input.speed;
    return Math.max(low, Math.min(high, neutral + (x > 0 ? x * (high - neutral) : x * (neutral - low))));
  });
}
`;

export const TELEOP_PAGE_JS = String.raw`
const teleop = (() => {
  const keys = new Set();
  const state = { space: null, sending: false, refused: false, gripperClosed: false, gripperSet: false, padDown: false, padA: false, action: null };
  const codes = new Set([...TELEOP_KEYS.flat(), GRIPPER_KEY]);
  const pad = () => [...(navigator.getGamepads ? navigator.getGamepads() : [])].find((g) => g && g.connected) || null;
  const held = (g) => keys.has('ShiftLeft') || keys.has('ShiftRight') || !!(g && g.buttons[4] && g.buttons[4].pressed);
  const show = (g) => {
    const on = state.sending;
    $('teleop').classList.toggle('driving', on);
    $('takeover').textContent = !state.space ? 'no robot connected yet' : on ? 'TAKEOVER: you drive the robot' : state.refused ? 'takeover refused: release, then press again' : 'policy drives (hold Shift or LB to take over)';
    $('tvalues').textContent = state.action ? '[' + state.action.map((v) => v.toFixed(3)).join(', ') + ']' : '';
    $('gripper').textContent = state.space && teleopLayout(state.space.low.length).gripper !== null ? 'gripper: ' + (state.gripperClosed ? 'closed' : 'open') + ' (G / A toggles)' : '';
    $('pad').textContent = g ? 'gamepad: ' + g.id : 'no gamepad';
  };
  const tick = () => {
    const g = pad();
    const a = !!(g && g.buttons[0] && g.buttons[0].pressed);
    if (a && !state.padA) toggleGripper();
    state.padA = a;
    const on = held(g) && state.space !== null;
    if (!on) state.refused = false;
    if (on && !state.refused) {
      if (!state.sending) state.gripperSet = false;
      const input = { keys, axes: g ? [...g.axes] : [], gripperClosed: state.gripperClosed, speed: Number($('speed').value) / 100 };
      state.action = teleopAction(input, state.space);
      state.sending = sendTeleop(state.action) || state.sending;
    } else if (state.sending) {
      sendTeleop(null);
      state.sending = false;
      state.action = null;
    }
    show(g);
  };
  const toggleGripper = () => {
    state.gripperClosed = !state.gripperClosed;
    state.gripperSet = true;
  };
  const release = () => {
    keys.clear();
    tick();
  };
  document.addEventListener('keydown', (ev) => {
    if (!codes.has(ev.code) && ev.key !== 'Shift') return;
    if (ev.code === GRIPPER_KEY && !ev.repeat) toggleGripper();
    keys.add(ev.code);
    if (ev.key !== 'Shift') ev.preventDefault();
    tick();
  });
  document.addEventListener('keyup', (ev) => {
    keys.delete(ev.code);
    tick();
  });
  window.addEventListener('blur', release);
  document.addEventListener('visibilitychange', () => document.hidden && release());
  setInterval(tick, 50);
  return {
    /** Whether the dead-man is held: then only the e-stop keys are commands. */
    held: () => held(pad()),
    status(s) {
      state.space = s.actionSpace;
      const g = state.space ? teleopLayout(state.space.low.length).gripper : null;
      // The robot's gripper as it was when the takeover started, unless the operator toggled it since.
      if (s.takeover && state.sending && !state.gripperSet && g !== null && s.lastAction) {
        state.gripperClosed = s.lastAction[g] > (state.space.low[g] + state.space.high[g]) / 2;
        state.gripperSet = true;
      }
    },
    refused() {
      state.refused = true;
      state.sending = false;
      state.action = null;
    },
  };
})();
`;

/** The takeover panel's HTML. */
export const TELEOP_PANEL_HTML = `<div id="teleop">
  <div id="takeover">-</div>
  <div><label>speed <input id="speed" type="range" min="5" max="100" step="5" value="50"></label>
  <span id="gripper"></span> <span id="pad"></span></div>
  <div id="tvalues"></div>
  <div class="help">Hold <kbd>Shift</kbd> (or the gamepad's LB) to drive: W/S, A/D, R/F, I/K, J/L, U/O move dims 0-5; G toggles the gripper; sticks too. Release to hand back. space / e still stop.</div>
</div>`;
