/**
 * Weight files for `@encdec/modeling`: safetensors (read/write, validated), PyTorch zip
 * checkpoints (read through a restricted unpickler, written as `torch.save` does), sharded
 * checkpoints, and `loadStateDict` which finds a model's weights the way `transformers` does.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./safetensors.ts";
export * from "./zip.ts";
export * from "./torch_pickle.ts";
export * from "./torch_save.ts";
export * from "./state_dict.ts";
