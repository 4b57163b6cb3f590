/**
 * The operator's web page (served by operator-server.ts): the run's state, one button per action, the
 * same keys as the terminal (s, f, r, p, space or e), the takeover from the keyboard or a gamepad
 * (operator-teleop-script.ts), and the last lines. Self-contained (no build step, nothing fetched): it
 * opens `ws(s)://<its own host>/ws`, forwarding `?token=` from its own URL, sends `{"type": "command",
 * "action": ...}` and `{"type": "teleop", ...}` and shows each `status` message. It reconnects every
 * second while the server is away, and shows that it is disconnected. While the takeover is held, only
 * the e-stop keys are commands (the other letters drive).
 */
import { TELEOP_MAP_JS, TELEOP_PAGE_JS, TELEOP_PANEL_HTML } from './operator-teleop-script.ts';

export const OPERATOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dsrl operator</title>
<style>
  body { font: 16px system-ui, sans-serif; margin: 0; padding: 16px; background: #111; color: #eee; }
  #state { font-size: 28px; font-weight: 600; margin: 8px 0; }
  #flags { font-size: 20px; min-height: 28px; color: #fc6; }
  #conn { float: right; font-size: 14px; }
  .grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0; }
  button { font-size: 20px; padding: 18px 8px; border-radius: 8px; border: 0; cursor: pointer; }
  button kbd { font-size: 13px; opacity: 0.7; display: block; }
  #estop { grid-column: 1 / -1; background: #d11; color: #fff; font-size: 30px; font-weight: 700; padding: 28px; }
  #success { background: #2a6; color: #fff; } #failure { background: #a62; color: #fff; }
  #reset { background: #36a; color: #fff; } #pause { background: #555; color: #fff; }
  #counts { color: #aaa; }
  #log { font: 13px monospace; color: #bbb; white-space: pre-wrap; margin-top: 12px; max-height: 40vh; overflow: auto; }
  .estopped { background: #400 !important; }
  #teleop { border: 2px solid #333; border-radius: 8px; padding: 8px 12px; color: #ccc; }
  #teleop.driving { border-color: #fc6; background: #321; }
  #takeover { font-size: 20px; font-weight: 600; }
  #tvalues { font: 13px monospace; min-height: 16px; } #teleop .help { font-size: 13px; color: #999; }
</style>
</head>
<body>
<span id="conn">connecting</span>
<div id="state">-</div>
<div id="flags"></div>
<div id="counts"></div>
<div class="grid">
  <button id="estop" data-action="estop">EMERGENCY STOP<kbd>space / e</kbd></button>
  <button id="reset" data-action="reset-done">Scene reset done<kbd>r</kbd></button>
  <button id="success" data-action="success">Success<kbd>s</kbd></button>
  <button id="failure" data-action="failure">Failure<kbd>f</kbd></button>
  <button id="pause" data-action="toggle-pause">Pause / resume<kbd>p</kbd></button>
</div>
${TELEOP_PANEL_HTML}
<div id="log"></div>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get('token');
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' + (token ? '?token=' + encodeURIComponent(token) : '');
  const keys = { s: 'success', f: 'failure', r: 'reset-done', p: 'toggle-pause', e: 'estop', ' ': 'estop' };
  let ws = null;
  const log = (line) => {
    const el = $('log');
    el.textContent = new Date().toLocaleTimeString() + '  ' + line + '\\n' + el.textContent.slice(0, 20000);
  };
  const send = (action) => {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'command', action }));
    else log('not connected: ' + action + ' not sent');
  };
  const sendTeleop = (action) => {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify({ type: 'teleop', action }));
    return true;
  };
${TELEOP_MAP_JS}
${TELEOP_PAGE_JS}
  const phases = { 'waiting-reset': 'Reset the scene, then press r', running: 'Running', labelled: 'Labelled: the episode ends' };
  const show = (s) => {
    const running = s.phase === 'running' && s.owner === null ? 'Scene ready: the episode starts next' : (phases[s.phase] || s.phase);
    $('state').textContent = running + (s.owner ? ' (' + s.owner + ' episode)' : '');
    $('flags').textContent = (s.estopped ? 'EMERGENCY STOP - p resumes. ' : '') + (s.paused ? 'PAUSED - p resumes.' : '');
    document.body.classList.toggle('estopped', s.estopped);
    teleop.status(s);
    const rate = s.steps > 0 ? (100 * s.interventionSteps / s.steps).toFixed(1) + '%' : '-';
    $('counts').textContent = 'episodes ' + s.episodes + ', successes ' + s.successes + ', failures ' + s.failures + ', e-stops ' + s.estops + ', training steps ' + s.steps + ', intervention rate ' + rate;
  };
  const connect = () => {
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { $('conn').textContent = 'connected'; };
    ws.onmessage = (ev) => {
      const m = JSON.parse(typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data));
      if (m.status) show(m.status);
      if (m.teleop) teleop.refused();
      if (m.line) log(m.line);
    };
    ws.onclose = () => { $('conn').textContent = 'DISCONNECTED (retrying)'; setTimeout(connect, 1000); };
  };
  for (const b of document.querySelectorAll('button')) b.addEventListener('click', () => send(b.dataset.action));
  document.addEventListener('keydown', (ev) => {
    const action = keys[ev.key.toLowerCase()];
    if (!action || ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (action !== 'estop' && (ev.shiftKey || teleop.held())) return; // the takeover's keys
    ev.preventDefault();
    send(action);
  });
  connect();
})();
</script>
</body>
</html>
`;
