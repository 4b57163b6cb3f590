/** Does `spec` name a WebSocket address (`ws://` or `wss://`)? Remote policies, remote envs and view streams all use it. */
export const isWebSocketUrl = (spec: string): boolean => /^wss?:\/\//i.test(spec);
