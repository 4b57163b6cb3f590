/** `dsrl demo`: until steering lands, report what the toolkit has and time the NN engine. */
import { getBackend } from '../nn/backend.ts';

export async function runDemo(): Promise<void> {
  const backend = getBackend();
  console.log(`dsrl demo: NN backend = ${backend.name}`);
  console.log('available now: nn engine (native OpenBLAS + portable TS), safetensors I/O; run `npm run bench:nn`.');
}
