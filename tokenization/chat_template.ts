/**
 * Chat templates (HF `apply_chat_template`): a Jinja template from `tokenizer_config.json`
 * rendered over a list of messages with the tokenizer's special tokens in scope.
 *
 * @module
 */
import { Template } from "@huggingface/jinja";
import { TokenizerError } from "./errors.ts";

/** A chat message for {@linkcode PreTrainedTokenizer.applyChatTemplate}. */
export interface ChatMessage {
  /** `"system"`, `"user"`, `"assistant"`, ... */
  role: string;
  /** The message text. */
  content: string;
}

/** Options of {@linkcode PreTrainedTokenizer.applyChatTemplate}. */
export interface ChatTemplateOptions {
  /** Append the template's assistant prompt (default `false`). */
  addGenerationPrompt?: boolean;
  /** Return token ids instead of the rendered string (default `true`, as in HF). */
  tokenize?: boolean;
  /** A template to use instead of the tokenizer's `chat_template`. */
  chatTemplate?: string;
}

/**
 * Renders `messages` with a Jinja chat template, as HF does: the template sees `messages`,
 * `add_generation_prompt` and every special-token role (`bos_token`, `eos_token`, ...).
 *
 * @example
 * ```ts
 * import { renderChatTemplate } from "@encdec/tokenization";
 * renderChatTemplate(
 *   "{% for m in messages %}{{ m.role }}: {{ m.content }}{{ eos_token }}{% endfor %}",
 *   [{ role: "user", content: "hi" }],
 *   { eos_token: "</s>" },
 * ); // "user: hi</s>"
 * ```
 */
export function renderChatTemplate(
  source: string,
  messages: ChatMessage[],
  specialTokens: Record<string, string>,
  addGenerationPrompt = false,
): string {
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new TokenizerError(
      `chat_template: cannot parse the Jinja template: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const ctx: Record<string, unknown> = {
    ...specialTokens,
    messages,
    add_generation_prompt: addGenerationPrompt,
  };
  try {
    return template.render(ctx);
  } catch (e) {
    throw new TokenizerError(`chat_template: rendering failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
