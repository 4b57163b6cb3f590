export * from './backend.ts';
export * from './concurrent.ts';
export * from './module.ts';
export * from './layers.ts';
export * from './mlp.ts';
export * from './optim.ts';
export * from './safetensors.ts';
