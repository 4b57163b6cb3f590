/** Node adapter: save and load models as .safetensors files (atomic writes, clear errors). */
import { readFileSync } from 'node:fs';
import type { Model } from '../nn/module.ts';
import { decodeSafetensors, encodeSafetensors, loadModelTensors, type DecodedSafetensors, type TensorEntry } from '../nn/safetensors.ts';
import { writeFileAtomic } from './fs.ts';

export function saveSafetensors(path: string, tensors: Record<string, TensorEntry>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(path: string): DecodedSafetensors {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/** Load a model's parameters from a file; names and shapes must match exactly. Returns the file's metadata. */
export function loadModel(path: string, model: Model, prefix = ''): Record<string, string> {
  const { tensors, metadata } = readSafetensors(path);
  loadModelTensors(model, tensors, path, prefix);
  return metadata;
}
