import http from 'node:http';
import type net from 'node:net';

export interface RecordedRequest {
  /** When the request arrived, and when the server answered it (ms since epoch). */
  at: number;
  answeredAt?: number;
  /**
   * The client's connection closed before the answer was written (its process was killed, or it
   * gave up): the server's own record of a request cut off mid-flight.
   */
  cutOff?: true;
  headers: http.IncomingHttpHeaders;
  body: {
    model: string;
    messages: { role: string; content: string }[];
    max_tokens?: number;
    response_format?: unknown;
  };
}

/** What the server does with one request; `hang` never answers. */
export type Script =
  | {
      status?: number;
      delayMs?: number;
      content?: string;
      finishReason?: 'stop' | 'length' | 'content_filter';
      usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
      headers?: Record<string, string>;
      body?: string;
    }
  | { hang: true };

export interface ModelServer {
  baseUrl: string;
  requests: RecordedRequest[];
  /** Answers chosen per request; the last one repeats. Replace at will. */
  script: (req: RecordedRequest, n: number) => Script;
  close(): Promise<void>;
}

/**
 * A real HTTP server on loopback that speaks the OpenAI chat-completions API: the stand-in for
 * Ollama Cloud, OpenRouter and the rest in tests. It records every request it is sent.
 */
export async function startModelServer(
  script: ModelServer['script'] = () => ({ content: '{}' }),
): Promise<ModelServer> {
  const sockets = new Set<net.Socket>();
  const state: ModelServer = {
    baseUrl: '',
    requests: [],
    script,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const rec: RecordedRequest = { at: Date.now(), headers: req.headers, body: JSON.parse(raw) };
      state.requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.cutOff = true;
      });
      const s = state.script(rec, state.requests.length - 1);
      if ('hang' in s) return;
      const status = s.status ?? 200;
      const body =
        s.body ??
        (status === 200
          ? JSON.stringify({
              id: `chatcmpl-${state.requests.length}`,
              object: 'chat.completion',
              model: rec.body.model,
              choices: [
                {
                  index: 0,
                  message: { role: 'assistant', content: s.content ?? '' },
                  finish_reason: s.finishReason ?? 'stop',
                },
              ],
              ...(s.usage === null
                ? {}
                : { usage: s.usage ?? { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 } }),
            })
          : JSON.stringify({ error: { message: `scripted ${status}`, type: 'server_error' } }));
      const answer = () => {
        rec.answeredAt = Date.now();
        res.writeHead(status, { 'content-type': 'application/json', ...s.headers }).end(body);
      };
      if (s.delayMs) setTimeout(answer, s.delayMs);
      else answer();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.baseUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1`;
  return state;
}
