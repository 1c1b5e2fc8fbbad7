/**
 * CamemBERT: RoBERTa's architecture under its own `model_type` ("camembert"). The base model
 * keeps HF's `roberta.` prefix inside `CamembertForCausalLM` (HF's `base_model_prefix`), so the
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

/** Key table of `CamembertModel` (RoBERTa's: with pooler, position padding row). */
export function camembertModelTable(cfg: BertConfigLike): ParamSpec[] {
  return robertaModelTable(cfg);
}

/** Key table of `CamembertForCausalLM`: `roberta.*` + `lm_head.*`, as RoBERTa's. */
export function camembertForCausalLMTable(cfg: BertConfigLike): ParamSpec[] {
  return robertaForCausalLMTable(cfg);
}

/** HF's `CamembertModel` (RoBERTa's positions and stack). */
export class CamembertModel<T> extends RobertaModel<T> {}

/** HF's `CamembertForCausalLM`: a decoder `RobertaModel` under `roberta.` and `lm_head`. */
export class CamembertForCausalLM<T> extends RobertaForCausalLM<T> {}
