/** What the CLI's HTTP client commands (`strata kv`, `strata ts`) share: credentials and error text. */

export interface ClientFlags {
  url: string;
  token?: string;
  user?: string;
  password?: string;
}

/** The Authorization header from --token / --user + --password (or STRATA_TOKEN / STRATA_PASSWORD). */
export function authHeaders(f: ClientFlags): Record<string, string> {
  const token = f.token ?? process.env.STRATA_TOKEN;
  if (token !== undefined && token !== '') return { authorization: `Bearer ${token}` };
  const password = f.password ?? process.env.STRATA_PASSWORD;
  if (f.user !== undefined && password !== undefined) return { authorization: `Basic ${Buffer.from(`${f.user}:${password}`).toString('base64')}` };
  return {};
}

/** The server's error as one line: `HTTP 400 INVALID_ARGUMENT: ...`. */
export async function httpError(res: Response): Promise<Error> {
  const text = await res.text();
  let message = text;
  try {
    const j = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (j.error) message = `${j.error.code}: ${j.error.message}`;
  } catch {
    // Not JSON: the body as it came.
  }
  return new Error(`HTTP ${res.status} ${message}`);
}
