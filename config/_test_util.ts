// Test helpers: read the fixture copies in testdata/.
/** Absolute path of a file under config/testdata/. */
export function testdata(path: string): string {
  return new URL(`./testdata/${path}`, import.meta.url).pathname;
}

/** Parses a JSON file under config/testdata/. */
export async function readTestJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(testdata(path)));
}

/** The fixture models with a composed encoder-decoder config.json. */
export const MODELS = [
  "bert2bert",
  "bert2bert-bin",
  "bert2bert-fp16",
  "bert2gpt2",
  "roberta2roberta",
  "bertgeneration",
  "xlmr2xlmr",
  "electra2electra",
  "distilbert2bert",
  "longformer2roberta",
  "bert2bert-shared",
  "bert2bert-bf16",
] as const;
