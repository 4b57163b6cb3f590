/**
 * Frames of the view stream (`dsrl steer --view-port`, read by `dsrl view ws://…`): binary WebSocket messages
 *
 *   bytes 0-3   "DSRV"
 *   bytes 4-5   u16 LE format version (1)
 *   bytes 6-7   u16 LE 0
 *   bytes 8-11  u32 LE header length h
 *   12 .. 12+h  JSON header (UTF-8)
 *   12+h ..     body: header.bytes bytes
 *
 * Headers: `{type: 'hello', run}` (the run folder's name; sent first), `{type: 'file', name, version, bytes}` (the
 * whole current content of one of the run's files, `version` opaque), `{type: 'gone', name}` (the file was removed).
 * Names are only config.json, summary.json, episodes/<name>.safetensors and losses.json (not a file of the run: the
 * loss series computed from its metrics.jsonl, run-losses.ts, its version metrics.jsonl's), so nothing the stream
 * says can name a path outside a run. Node only (Buffer).
 */

export const VIEW_FRAME_MAGIC = 'DSRV';
export const VIEW_FRAME_VERSION = 1;
/** The files a view stream carries (`episodes/<name>.safetensors` as run-watch.ts lists them). */
export const VIEW_FILE_NAME = /^(config\.json|summary\.json|losses\.json|episodes\/[A-Za-z0-9_-]{1,64}\.safetensors)$/;

export type ViewFrame =
  { type: 'hello'; run: string } | { type: 'file'; name: string; version: string; body: Buffer } | { type: 'gone'; name: string };

export function encodeViewFrame(frame: ViewFrame): Buffer {
  const { body, ...rest } = frame as ViewFrame & { body?: Buffer };
  const header = Buffer.from(JSON.stringify(body ? { ...rest, bytes: body.length } : rest), 'utf8');
  const head = Buffer.alloc(12);
  head.write(VIEW_FRAME_MAGIC, 0, 'latin1');
  head.writeUInt16LE(VIEW_FRAME_VERSION, 4);
  head.writeUInt32LE(header.length, 8);
  return Buffer.concat(body ? [head, header, body] : [head, header]);
}

const fail = (why: string): never => {
  throw new Error(`malformed view-stream frame: ${why}`);
};

/** One frame from its bytes; throws `malformed view-stream frame: <why>`. The body is a view of `data`. */
export function decodeViewFrame(data: Buffer): ViewFrame {
  if (data.length < 12) fail(`${data.length} bytes, under the 12-byte fixed header`);
  const magic = data.subarray(0, 4).toString('latin1');
  if (magic !== VIEW_FRAME_MAGIC) fail(`starts with ${JSON.stringify(magic)}, not "${VIEW_FRAME_MAGIC}"`);
  const version = data.readUInt16LE(4);
  if (version !== VIEW_FRAME_VERSION) fail(`format version ${version}; this dsrl reads version ${VIEW_FRAME_VERSION} (update dsrl on one side)`);
  const h = data.readUInt32LE(8);
  if (12 + h > data.length) fail(`header length ${h} runs past the frame's ${data.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(data.subarray(12, 12 + h).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const rest = data.length - 12 - h;
  const name = header.name;
  if (header.type === 'hello') {
    if (typeof header.run !== 'string' || header.run.length > 200) fail('hello without a run name');
    return { type: 'hello', run: header.run as string };
  }
  if (header.type !== 'file' && header.type !== 'gone') fail(`unknown type ${JSON.stringify(header.type)}`);
  if (typeof name !== 'string' || !VIEW_FILE_NAME.test(name)) fail(`file name ${JSON.stringify(name)} is not one a run streams`);
  if (header.type === 'gone') return { type: 'gone', name: name as string };
  if (typeof header.version !== 'string' || header.version.length > 200) fail(`${name as string}: no version`);
  if (header.bytes !== rest) fail(`${name as string}: header says ${JSON.stringify(header.bytes)} bytes, the frame carries ${rest}`);
  return { type: 'file', name: name as string, version: header.version as string, body: data.subarray(12 + h) };
}
