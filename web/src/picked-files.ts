/**
 * Files the user hands the static page, with their paths inside the chosen run folder: from the file inputs
 * (a folder, or files one by one) and from a drop (a folder or files). Only what a run folder's viewer needs is
 * looked at later (sources.ts): summary.json, metrics.jsonl and episodes/*.safetensors, so a folder is walked two levels deep.
 */
import type { PickedFile } from './sources.ts';

export function pickedFromInput(input: HTMLInputElement): PickedFile[] {
  // A folder input gives paths "run/episodes/agent.safetensors": drop the folder's own name.
  return [...(input.files ?? [])].map((file) => ({
    file,
    path: file.webkitRelativePath ? file.webkitRelativePath.split('/').slice(1).join('/') : file.name,
  }));
}

const fileOf = (entry: FileSystemFileEntry) => new Promise<File>((resolve, reject) => entry.file(resolve, reject));

async function entriesOf(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  // readEntries gives a batch per call (Chromium: 100) until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0 || all.length > 10_000) return all;
    all.push(...batch);
  }
}

async function walk(dir: FileSystemDirectoryEntry, prefix: string, depth: number, out: PickedFile[]): Promise<void> {
  for (const entry of await entriesOf(dir)) {
    if (entry.isFile) out.push({ file: await fileOf(entry as FileSystemFileEntry), path: `${prefix}${entry.name}` });
    else if (entry.isDirectory && depth > 1) await walk(entry as FileSystemDirectoryEntry, `${prefix}${entry.name}/`, depth - 1, out);
  }
}

/** A dropped run folder (its files two levels deep), or dropped files; `name` names the run in the page. */
export async function pickedFromDrop(data: DataTransfer): Promise<{ files: PickedFile[]; name: string }> {
  const entries = [...data.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const files: PickedFile[] = [];
  let name = 'dropped files';
  for (const entry of entries) {
    if (entry.isDirectory) {
      name = entry.name;
      await walk(entry as FileSystemDirectoryEntry, '', 2, files);
    } else if (entry.isFile) {
      files.push({ file: await fileOf(entry as FileSystemFileEntry), path: entry.name });
    }
  }
  return { files, name };
}
