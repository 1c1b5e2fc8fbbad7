// Private: the JSON error type and response helper shared by the edge handler's parts.

/** A request the handler refuses: HTTP status, message, and the option or field it names. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** A JSON response (`application/json; charset=utf-8`). */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The JSON answer for an {@link HttpError}: `{ error, option? }` with its status and headers. */
export function errorResponse(e: HttpError): Response {
  const body: Record<string, unknown> = { error: e.message };
  if (e.field !== undefined) body.option = e.field;
  return json(e.status, body, e.headers);
}
