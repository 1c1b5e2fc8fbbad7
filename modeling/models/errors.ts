/**
 * The errors of the models: a checkpoint or config the model cannot be built from
 * (`ModelLoadError`), and bad input to a model call (`ModelInputError`).
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/** A model that cannot be built from its weights (shape mismatch, bad config, ...). */
export class ModelLoadError extends EncdecError {}

/** Bad input to a model call (ids outside the vocabulary, too long, batch sizes that differ). */
export class ModelInputError extends EncdecError {}
