/**
 * XLM-RoBERTa: RoBERTa's architecture under its own `model_type` ("xlm-roberta"). The base model
 * keeps HF's `roberta.` prefix inside `XLMRobertaForCausalLM` (HF's `base_model_prefix`), so the
 * key tables are RoBERTa's.
 *
 * @module
 */
import {
  RobertaForCausalLM,
  robertaForCausalLMTable,
  RobertaModel,
  robertaModelTable,
} from "./roberta.ts";
import type { BertConfigLike } from "./bert.ts";
import type { ParamSpec } from "./key_table.ts";

/** Key table of `XLMRobertaModel` (RoBERTa's: with pooler, position padding row). */
export function xlmRobertaModelTable(cfg: BertConfigLike): ParamSpec[] {
  return robertaModelTable(cfg);
}

/** Key table of `XLMRobertaForCausalLM`: `roberta.*` + `lm_head.*`, as RoBERTa's. */
export function xlmRobertaForCausalLMTable(cfg: BertConfigLike): ParamSpec[] {
  return robertaForCausalLMTable(cfg);
}

/** HF's `XLMRobertaModel` (RoBERTa's positions and stack). */
export class XLMRobertaModel<T> extends RobertaModel<T> {}

/** HF's `XLMRobertaForCausalLM`: a decoder `RobertaModel` under `roberta.` and `lm_head`. */
export class XLMRobertaForCausalLM<T> extends RobertaForCausalLM<T> {}
