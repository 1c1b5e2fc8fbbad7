/**
 * Weight files for `@encdec/modeling`: safetensors (read/write, validated), PyTorch zip
 * checkpoints through a restricted unpickler, sharded checkpoints, and `loadStateDict` which
 * finds a model's weights the way `transformers` does.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./safetensors.ts";
export * from "./zip.ts";
export * from "./torch_pickle.ts";
export * from "./state_dict.ts";
