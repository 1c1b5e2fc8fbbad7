import { assertEquals, assertThrows } from "@std/assert";
import { buildLogitsProcessor, buildLogitsWarper, buildStoppingCriteria } from "./build.ts";
import { GenerationError } from "./errors.ts";
import { RepetitionPenaltyLogitsProcessor } from "./logits_process.ts";
import { mergeGenerationParams } from "./params.ts";

const names = (l: { processors?: object[]; criteria?: object[] }) =>
  (l.processors ?? l.criteria ?? []).map((p) => p.constructor.name);

Deno.test("buildLogitsProcessor: every processor, in HF 4.40 _get_logits_processor order", () => {
  const p = mergeGenerationParams({ eos_token_id: 3, pad_token_id: 0 }, {
    sequenceBias: [[[5], 1]],
    numBeams: 4,
    numBeamGroups: 2,
    diversityPenalty: 0.5,
    encoderRepetitionPenalty: 1.1,
    repetitionPenalty: 1.2,
    noRepeatNgramSize: 2,
    encoderNoRepeatNgramSize: 3,
    badWordsIds: [[7]],
    minLength: 3,
    minNewTokens: 2,
    forcedBosTokenId: 4,
    forcedEosTokenId: 3,
    removeInvalidValues: true,
    exponentialDecayLengthPenalty: [5, 1.1],
    suppressTokens: [8],
    beginSuppressTokens: [9],
    renormalizeLogits: true,
  });
  const list = buildLogitsProcessor(p, {
    inputIdsSeqLength: 1,
    encoderInputIds: [[5, 6, 7]],
    prefixAllowedTokensFn: () => [1],
  });
  assertEquals(names(list), [
    "SequenceBiasLogitsProcessor",
    "HammingDiversityLogitsProcessor",
    "EncoderRepetitionPenaltyLogitsProcessor",
    "RepetitionPenaltyLogitsProcessor",
    "NoRepeatNGramLogitsProcessor",
    "EncoderNoRepeatNGramLogitsProcessor",
    "NoBadWordsLogitsProcessor",
    "MinLengthLogitsProcessor",
    "MinNewTokensLengthLogitsProcessor",
    "PrefixConstrainedLogitsProcessor",
    "ForcedBOSTokenLogitsProcessor",
    "ForcedEOSTokenLogitsProcessor",
    "InfNanRemoveLogitsProcessor",
    "ExponentialDecayLengthPenalty",
    "SuppressTokensLogitsProcessor",
    "SuppressTokensAtBeginLogitsProcessor",
    "LogitNormalization",
  ]);
  // defaults build nothing
  assertEquals(
    names(
      buildLogitsProcessor(mergeGenerationParams(), {
        inputIdsSeqLength: 1,
        encoderInputIds: [[1]],
      }),
    ),
    [],
  );
  // a custom processor of a type the config already builds is refused, as in HF
  assertThrows(
    () =>
      buildLogitsProcessor(mergeGenerationParams(null, { repetitionPenalty: 1.2 }), {
        inputIdsSeqLength: 1,
        encoderInputIds: [[1]],
        extra: [new RepetitionPenaltyLogitsProcessor(2)],
      }),
    GenerationError,
    "RepetitionPenaltyLogitsProcessor",
  );
});

Deno.test("buildLogitsWarper / buildStoppingCriteria: HF 4.40 order and defaults", () => {
  const w = buildLogitsWarper(mergeGenerationParams(null, {
    doSample: true,
    temperature: 0.7,
    topK: 10,
    topP: 0.9,
    minP: 0.05,
    typicalP: 0.95,
    epsilonCutoff: 3e-4,
    etaCutoff: 2e-3,
  }));
  assertEquals(names(w), [
    "TemperatureLogitsWarper",
    "TopKLogitsWarper",
    "TopPLogitsWarper",
    "MinPLogitsWarper",
    "TypicalLogitsWarper",
    "EpsilonLogitsWarper",
    "EtaLogitsWarper",
  ]);
  // HF's default top_k=50 applies when sampling with nothing else set
  assertEquals(names(buildLogitsWarper(mergeGenerationParams(null, { doSample: true }))), [
    "TopKLogitsWarper",
  ]);
  const s = buildStoppingCriteria(
    mergeGenerationParams(null, { eosTokenId: [3, 4], maxTime: 5, stopStrings: ["."] }),
    {
      promptLength: 1,
      decode: () => "",
    },
  );
  assertEquals(names(s), [
    "MaxLengthCriteria",
    "MaxTimeCriteria",
    "StopStringCriteria",
    "EosTokenCriteria",
  ]);
  assertEquals(s.maxLength, 20);
});
