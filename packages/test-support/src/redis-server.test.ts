import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { redisAnswers } from './redis-server.ts';

async function listen(onSocket: (s: net.Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    close: () => new Promise((r) => (sockets.forEach((s) => s.destroy()), srv.close(() => r()))),
  };
}

describe('redisAnswers (is there a Redis at REDIS_URL, or start one?)', () => {
  it('says no, instead of waiting forever, when the port is held by something that accepts and never replies', async () => {
    const silent = await listen(() => {});
    try {
      expect(await redisAnswers(silent.url)).toBe(false);
    } finally {
      await silent.close();
    }
  }, 15_000);

  it('says no when the port answers with something that is not Redis', async () => {
    const http = await listen((s) => s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    try {
      expect(await redisAnswers(http.url)).toBe(false);
    } finally {
      await http.close();
    }
  }, 15_000);
});
