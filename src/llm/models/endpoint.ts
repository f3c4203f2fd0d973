/**
 * EndpointModel: a model behind an OpenAI-compatible HTTP API (llama.cpp's server, vLLM, Ollama, a hosted service),
 * seen by the engine as a ClarifyModel. This is how dataset synthesis and evaluation scale to many GPUs: the model
 * runs wherever the user serves it, and we send requests with bounded concurrency, retries and backoff.
 *
 * Chat turns use /chat/completions (the grammar becomes a `json_schema` response format); raw turns (a fine-tuned
 * model's training format) use /completions. A reply prefix is sent as a final assistant message, which llama.cpp's
 * server and vLLM (`continue_final_message`) continue; a server that starts a new reply instead is handled too.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import pLimit from "p-limit";
import retry from "async-retry";
import type {
  ClarifyModel,
  Exchange,
  ModelConversation,
  OpenConversationOptions,
  ProbeOptions,
  StopReason,
  TurnOptions,
  TurnResult,
} from "../../core/model.js";

export interface EndpointOptions {
  /** The API's base URL, ending in /v1 (a bare server address gets /v1 added). */
  baseUrl: string;
  /** The model name to ask for; by default the first one the server lists at /models. */
  model?: string;
  /** Sent as a bearer token. */
  apiKey?: string;
  /** Requests in flight at once, over every conversation of this model (default 4). */
  concurrency?: number;
  /** Retries of a request that failed with a network error, 408, 425, 429 or 5xx (default 5). */
  retries?: number;
  /** The first retry waits about this long; each later one twice as long, with jitter (default 500 ms). */
  retryBaseMs?: number;
  /** A request that has not finished after this long fails (default 10 minutes). */
  timeoutMs?: number;
  /** Told about each retry, so a long run can say why it waits. */
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
  /** Told once about something the server cannot do and what is done instead (no log-probabilities, say). */
  onNotice?: (sentence: string) => void;
}

/** A request to the endpoint failed, in plain words; `status` is the HTTP status where there was one. */
export class EndpointError extends Error {
  override name = "EndpointError";
  constructor(
    message: string,
    readonly status?: number,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** The environment variables read for an API key, first found wins. */
const apiKeyVariables = ["CLARIFYCODER_API_KEY", "OPENAI_API_KEY"] as const;

export function apiKeyFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of apiKeyVariables) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

/** The models an OpenAI-compatible `/models` reply lists, with who owns each where the server says (any other shape: none). */
export function modelList(body: unknown): { id: string; ownedBy?: string }[] {
  const data = typeof body === "object" && body !== null && Array.isArray((body as { data?: unknown }).data) ? (body as { data: unknown[] }).data : [];
  return data.flatMap((m) => {
    if (typeof m !== "object" || m === null) return [];
    const { id, owned_by: ownedBy } = m as { id?: unknown; owned_by?: unknown };
    return typeof id === "string" ? [{ id, ...(typeof ownedBy === "string" ? { ownedBy } : {}) }] : [];
  });
}

/** A base URL as the API wants it: no trailing slash, and /v1 added to a bare server address. */
export function normaliseBaseUrl(url: string): string {
  const parsed = new URL(url);
  parsed.hash = "";
  let pathname = parsed.pathname.replace(/\/+$/, "");
  if (pathname === "") pathname = "/v1";
  parsed.pathname = pathname;
  return parsed.toString().replace(/\/+$/, "");
}

type Message = { role: "system" | "user" | "assistant"; content: string };

interface Completion {
  text: string;
  finishReason: string | undefined;
  promptTokens: number;
  completionTokens: number;
  aborted: boolean;
}

const retryableStatus = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

export class EndpointModel implements ClarifyModel {
  readonly baseUrl: string;
  private modelName: Promise<string> | undefined;
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(private readonly options: EndpointOptions) {
    this.baseUrl = normaliseBaseUrl(options.baseUrl);
    if (options.model) this.modelName = Promise.resolve(options.model);
    this.limit = pLimit(Math.max(1, Math.floor(options.concurrency ?? 4)));
  }

  /** The model name used in requests (asked of the server once, when none was given). */
  model(): Promise<string> {
    this.modelName ??= this.listModels().then((names) => {
      const first = names[0];
      if (!first) throw new EndpointError(`${this.baseUrl}/models lists no model; name one (append #model-name to the URL).`);
      return first;
    });
    const pending = this.modelName;
    // A failed lookup is not remembered: the next request asks again.
    pending.catch(() => {
      if (this.modelName === pending) this.modelName = undefined;
    });
    return pending;
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const response = await this.send("GET", "/models", undefined, signal);
    const names = modelList(await response.json()).map((m) => m.id);
    // With no name given, the first one listed is the model: a listing already made need not be asked again.
    if (this.modelName === undefined && names[0] !== undefined) this.modelName = Promise.resolve(names[0]);
    return names;
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    return new EndpointConversation(this, options);
  }

  /** What the server could not do, told once each (see `onNotice`). */
  private readonly told = new Set<string>();

  notice(key: string, sentence: string): void {
    if (this.told.has(key)) return;
    this.told.add(key);
    this.options.onNotice?.(sentence);
  }

  /**
   * A failure in words that say what to do: a model name the server does not serve (with the names it does), a
   * conversation longer than the served context. Anything else is returned as it is.
   */
  private async explain(error: unknown): Promise<unknown> {
    if (!(error instanceof EndpointError) || error.status === undefined || error.status < 400 || error.status >= 500) return error;
    const detail = error.message;
    if (/context|too long|too many tokens|n_ctx|exceeds/i.test(detail) && error.status !== 404) {
      return new EndpointError(
        `The conversation is longer than the context ${this.baseUrl} serves: start a new chat, or serve the model with a larger context (llama.cpp's server: --ctx-size; vLLM: --max-model-len). ${detail}`,
        error.status,
      );
    }
    if (error.status === 404 || /model/i.test(detail)) {
      const name = await this.model().catch(() => undefined);
      const served = await this.listModels().catch(() => undefined);
      if (name !== undefined && served !== undefined && served.length > 0 && !served.includes(name)) {
        return new EndpointError(
          `${this.baseUrl} serves no model named "${name}"; it serves ${served.map((m) => `"${m}"`).join(", ")}. Name one of them (append #name to the address).`,
          error.status,
        );
      }
    }
    return error;
  }

  /** One chat completion (streamed when `onChunk` is given), with retries while nothing has been streamed. */
  async chatCompletion(messages: Message[], turn: TurnOptions, extra: Record<string, unknown> = {}): Promise<Completion> {
    const body: Record<string, unknown> = {
      model: await this.model(),
      messages,
      max_tokens: turn.maxTokens,
      temperature: turn.temperature ?? 0,
      ...(turn.seed !== undefined ? { seed: turn.seed } : {}),
      ...(turn.grammar ? { response_format: { type: "json_schema", json_schema: { name: "reply", strict: true, schema: turn.grammar } } } : {}),
      ...extra,
    };
    const result = await this.completion("/chat/completions", body, turn, (choice) => {
      const c = choice as { delta?: { content?: unknown }; message?: { content?: unknown } };
      const content = c.delta?.content ?? c.message?.content;
      return typeof content === "string" ? content : "";
    });
    if (turn.grammar && !result.aborted && result.finishReason !== "length") {
      const prefix = extra.continue_final_message ? (messages.at(-1)?.content ?? "") : "";
      this.checkJson(result.text.startsWith(prefix) ? result.text : prefix + result.text);
    }
    return result;
  }

  /**
   * A reply asked for under a JSON schema should be JSON: where it is not, the server ignored the schema, and the user
   * is told (once) what to do; the reply goes back as it is, for the caller to refuse in its own words.
   */
  private checkJson(text: string): void {
    try {
      JSON.parse(text);
    } catch {
      this.notice(
        "schema",
        `${this.baseUrl} ignored the JSON schema it was sent (its reply is not JSON: "${text.trim().slice(0, 60)}…"). Use a server that supports response_format json_schema: llama.cpp's server, vLLM (guided decoding) or Ollama 0.5 or later.`,
      );
    }
  }

  /** One raw text completion (a fine-tuned model's own format, no chat template). */
  async textCompletion(prompt: string, turn: TurnOptions & { stopStrings?: string[] }): Promise<Completion> {
    const body: Record<string, unknown> = {
      model: await this.model(),
      prompt,
      max_tokens: turn.maxTokens,
      temperature: turn.temperature ?? 0,
      ...(turn.seed !== undefined ? { seed: turn.seed } : {}),
      ...(turn.stopStrings && turn.stopStrings.length > 0 ? { stop: turn.stopStrings } : {}),
      ...(turn.grammar ? { response_format: { type: "json_schema", json_schema: { name: "reply", strict: true, schema: turn.grammar } } } : {}),
    };
    const result = await this.completion("/completions", body, turn, (choice) => {
      const text = (choice as { text?: unknown }).text;
      return typeof text === "string" ? text : "";
    });
    if (turn.grammar && !result.aborted && result.finishReason !== "length") this.checkJson(result.text);
    return result;
  }

  /** The log-probabilities of the next token's top candidates after `messages` (ending in an assistant prefill). */
  async topLogprobs(messages: Message[], signal?: AbortSignal): Promise<{ token: string; logprob: number }[]> {
    const body = {
      model: await this.model(),
      messages,
      max_tokens: 1,
      temperature: 0,
      logprobs: true,
      top_logprobs: 20,
      continue_final_message: true,
      add_generation_prompt: false,
    };
    const response = await this.limit(() => this.withRetries(() => this.send("POST", "/chat/completions", body, signal), signal));
    const json = (await response.json()) as {
      choices?: { logprobs?: { content?: { top_logprobs?: { token?: unknown; logprob?: unknown }[] }[] } }[];
    };
    const top = json.choices?.[0]?.logprobs?.content?.[0]?.top_logprobs ?? [];
    return top.flatMap((t) => (typeof t.token === "string" && typeof t.logprob === "number" ? [{ token: t.token, logprob: t.logprob }] : []));
  }

  private async completion(...args: Parameters<EndpointModel["rawCompletion"]>): Promise<Completion> {
    try {
      return await this.rawCompletion(...args);
    } catch (error) {
      throw await this.explain(error);
    }
  }

  private async rawCompletion(endpoint: string, body: Record<string, unknown>, turn: TurnOptions, textOf: (choice: unknown) => string): Promise<Completion> {
    const stream = turn.onChunk !== undefined;
    const payload = stream ? { ...body, stream: true, stream_options: { include_usage: true } } : body;
    return this.limit(() =>
      this.withRetries(async () => {
        const result: Completion = { text: "", finishReason: undefined, promptTokens: 0, completionTokens: 0, aborted: false };
        try {
          const response = await this.send("POST", endpoint, payload, turn.signal);
          if (!stream) {
            const json = (await response.json()) as { choices?: { finish_reason?: unknown }[]; usage?: Usage };
            const choice = json.choices?.[0];
            if (!choice) throw new EndpointError(`${this.baseUrl}${endpoint} answered without a choice.`);
            result.text = textOf(choice);
            result.finishReason = typeof choice.finish_reason === "string" ? choice.finish_reason : undefined;
            readUsage(json.usage, result);
            return result;
          }
          await this.readStream(response, (event) => {
            const choice = event.choices?.[0];
            if (choice) {
              const piece = textOf(choice);
              if (piece !== "") {
                result.text += piece;
                turn.onChunk?.(piece);
              }
              if (typeof choice.finish_reason === "string") result.finishReason = choice.finish_reason;
            }
            readUsage(event.usage, result);
          });
          return result;
        } catch (error) {
          if (turn.signal?.aborted) {
            result.aborted = true;
            return result;
          }
          // Text already streamed cannot be taken back: a retry would repeat it.
          if (error instanceof EndpointError && result.text !== "") throw new EndpointError(error.message, error.status, false);
          throw error;
        }
      }, turn.signal),
    );
  }

  private async readStream(response: Response, onEvent: (event: StreamEvent) => void): Promise<void> {
    if (!response.body) throw new EndpointError(`${this.baseUrl} sent an empty stream.`);
    let failure: Error | undefined;
    const parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        if (failure || message.data.trim() === "[DONE]") return;
        try {
          const event = JSON.parse(message.data) as StreamEvent & { error?: { message?: unknown } };
          if (event.error) {
            const text = typeof event.error.message === "string" ? event.error.message : JSON.stringify(event.error);
            failure = new EndpointError(`${this.baseUrl} reported an error mid-reply: ${text}`);
            return;
          }
          onEvent(event);
        } catch {
          failure = new EndpointError(`${this.baseUrl} sent a stream event that is not JSON: ${message.data.slice(0, 120)}`);
        }
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body) {
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      if (failure) throw failure;
    }
    if (failure) throw failure;
  }

  /**
   * Runs `attempt`, retrying what is worth retrying: async-retry's exponential backoff with jitter (up to 30 s), and
   * the wait the server asked for (Retry-After) on top. A cancelled request is never retried.
   */
  private withRetries<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const base = this.options.retryBaseMs ?? 500;
    let asked: number | undefined;
    return retry(
      async (bail, attemptNumber) => {
        if (asked !== undefined && attemptNumber > 1) await sleep(asked, signal);
        try {
          return await attempt();
        } catch (error) {
          if (!(error instanceof EndpointError && error.retryable) || signal?.aborted) {
            bail(error as Error);
            return undefined as never;
          }
          asked = (error as EndpointError & { retryAfterMs?: number }).retryAfterMs;
          throw error;
        }
      },
      {
        retries: Math.max(0, Math.floor(this.options.retries ?? 5)),
        factor: 2,
        minTimeout: base,
        maxTimeout: 30_000,
        randomize: true,
        onRetry: (error, attemptNumber) => {
          const waitMs = asked ?? Math.min(30_000, base * 2 ** (attemptNumber - 1));
          this.options.onRetry?.({ attempt: attemptNumber, waitMs, reason: error instanceof Error ? error.message : String(error) });
        },
      },
    );
  }

  private async send(method: "GET" | "POST", endpoint: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const url = `${this.baseUrl}${endpoint}`;
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 600_000);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: combined,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      if (timeout.aborted)
        throw new EndpointError(`${url} did not answer within ${Math.round((this.options.timeoutMs ?? 600_000) / 1000)} s.`, undefined, true);
      const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
      const code = typeof cause?.code === "string" ? cause.code : "";
      const why =
        code === "ECONNREFUSED"
          ? "nothing is listening there (is the server running?)"
          : code === "ENOTFOUND" || code === "EAI_AGAIN"
            ? "the host name cannot be resolved"
            : typeof cause?.message === "string"
              ? cause.message
              : error instanceof Error
                ? error.message
                : String(error);
      throw new EndpointError(`Could not reach ${url}: ${why}.`, undefined, code !== "ENOTFOUND");
    }
    if (response.ok) return response;
    const detail = (await response.text().catch(() => "")).trim().slice(0, 300);
    const error = new EndpointError(describeStatus(url, response.status, detail), response.status, retryableStatus.has(response.status));
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
    if (retryAfter !== undefined) Object.assign(error, { retryAfterMs: retryAfter });
    throw error;
  }
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

interface StreamEvent {
  choices?: { finish_reason?: unknown; delta?: unknown; text?: unknown }[];
  usage?: Usage;
}

function readUsage(usage: Usage | undefined, into: Completion): void {
  if (!usage) return;
  if (typeof usage.prompt_tokens === "number") into.promptTokens = usage.prompt_tokens;
  if (typeof usage.completion_tokens === "number") into.completionTokens = usage.completion_tokens;
}

function describeStatus(url: string, status: number, detail: string): string {
  const said = detail ? ` The server said: ${detail}` : "";
  if (status === 401 || status === 403) {
    return `${url} refused the request (HTTP ${status}): the API key is missing or not accepted. Set ${apiKeyVariables.join(" or ")}.${said}`;
  }
  if (status === 404) return `${url} was not found (HTTP 404): check the URL (it should end in /v1) and the model name.${said}`;
  if (status === 429) return `${url} is rate-limiting requests (HTTP 429).${said}`;
  if (status >= 500) return `${url} failed on the server side (HTTP ${status}).${said}`;
  return `${url} rejected the request (HTTP ${status}).${said}`;
}

/** Retry-After in seconds or as an HTTP date, as milliseconds (capped at a minute). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(60_000, Math.max(0, ms));
}

/** Waits `ms`, or less when `signal` aborts (the attempt after it then ends at once, as cancelled). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function stopReasonOf(completion: Completion): StopReason {
  if (completion.aborted) return "abort";
  if (completion.finishReason === "length") return "maxTokens";
  if (completion.finishReason === "stop") return "eogToken";
  return "other";
}

function turnResult(text: string, completion: Completion): TurnResult {
  return {
    text,
    stopReason: stopReasonOf(completion),
    evaluatedInputTokens: completion.promptTokens,
    outputTokens: completion.completionTokens,
  };
}

/**
 * A conversation with an endpoint: the server keeps no state, so the history is sent with every turn (a server with a
 * prompt cache, such as llama.cpp's, still evaluates only the new tokens).
 */
class EndpointConversation implements ModelConversation {
  private readonly messages: Message[] = [];
  private transcript = "";

  constructor(
    private readonly endpoint: EndpointModel,
    private readonly options: OpenConversationOptions,
  ) {
    if (options.mode === "chat" && options.systemPrompt !== undefined) this.messages.push({ role: "system", content: options.systemPrompt });
  }

  async probe(message: string, prefix: string, options: readonly string[], turn: ProbeOptions = {}): Promise<Record<string, number>> {
    const signal = turn.signal;
    this.requireMode("chat");
    const noProbabilities = (why: string): EndpointError => {
      this.endpoint.notice(
        "logprobs",
        `${this.endpoint.baseUrl} gives no token probabilities (${why}), so the ask threshold does not apply there: the model itself chooses to ask or go ahead, under the schema.`,
      );
      return new EndpointError(`${this.endpoint.baseUrl} gave no probabilities for ${options.join(" or ")} (${why}).`);
    };
    let top: { token: string; logprob: number }[];
    try {
      top = await this.endpoint.topLogprobs([...this.messages, { role: "user", content: message }, { role: "assistant", content: prefix }], signal);
    } catch (error) {
      if (
        signal?.aborted ||
        !(error instanceof EndpointError) ||
        error.status === undefined ||
        error.status >= 500 ||
        error.status === 401 ||
        error.status === 403
      )
        throw error;
      throw noProbabilities(`it refused the request: HTTP ${error.status}`);
    }
    const mass: Record<string, number> = Object.fromEntries(options.map((o) => [o, 0]));
    for (const { token, logprob } of top) {
      if (token === "") continue;
      for (const option of options) if (option.startsWith(token)) mass[option] = (mass[option] ?? 0) + Math.exp(logprob);
    }
    const total = Object.values(mass).reduce((a, b) => a + b, 0);
    if (total <= 0)
      throw noProbabilities(
        top.length === 0 ? "it ignores logprobs" : "none of its likeliest first tokens starts either choice; it may not continue a reply prefix",
      );
    for (const option of options) mass[option] = (mass[option] ?? 0) / total;
    return mass;
  }

  async chat(message: string, turn: TurnOptions): Promise<TurnResult> {
    this.requireMode("chat");
    const prefix = turn.responsePrefix ?? "";
    const history: Message[] = [...this.messages, { role: "user", content: message }];
    let emitted = false;
    let pending = "";
    // The prefix is the reply's start: streamed first. A server that ignores the prefill and writes it again has
    // its repeat dropped; until the first characters show which, they are held back.
    const onChunk = turn.onChunk
      ? (piece: string): void => {
          if (!emitted) {
            pending += piece;
            if (pending.length < prefix.length && prefix.startsWith(pending)) return;
            emitted = true;
            turn.onChunk?.(prefix + (pending.startsWith(prefix) ? pending.slice(prefix.length) : pending));
            return;
          }
          turn.onChunk?.(piece);
        }
      : undefined;
    const completion = await this.endpoint.chatCompletion(
      prefix ? [...history, { role: "assistant", content: prefix }] : history,
      { ...turn, ...(onChunk ? { onChunk } : {}) },
      prefix ? { continue_final_message: true, add_generation_prompt: false } : {},
    );
    if (onChunk && !emitted && prefix !== "") turn.onChunk?.(prefix + (pending.startsWith(prefix) ? pending.slice(prefix.length) : pending));
    const text = prefix === "" || completion.text.startsWith(prefix) ? completion.text : prefix + completion.text;
    this.messages.push({ role: "user", content: message }, { role: "assistant", content: text });
    return turnResult(text, completion);
  }

  async complete(text: string, turn: TurnOptions & { stopStrings?: string[] }): Promise<TurnResult> {
    this.requireMode("raw");
    this.transcript += text;
    const completion = await this.endpoint.textCompletion(this.transcript, turn);
    this.transcript += completion.text;
    return turnResult(completion.text, completion);
  }

  async setHistory(exchanges: readonly Exchange[]): Promise<void> {
    this.requireMode("chat");
    const system = this.messages.filter((m) => m.role === "system");
    const turns = exchanges.flatMap((e): Message[] => [
      { role: "user", content: e.user },
      { role: "assistant", content: e.model },
    ]);
    this.messages.splice(0, this.messages.length, ...system, ...turns);
  }

  async close(): Promise<void> {
    this.messages.length = 0;
    this.transcript = "";
  }

  private requireMode(mode: OpenConversationOptions["mode"]): void {
    if (this.options.mode !== mode) throw new EndpointError(`This conversation is in ${this.options.mode} mode.`);
  }
}
