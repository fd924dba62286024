import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@prbot/test-support';

const file = path.join(REPO_ROOT, 'docker-compose.yml');

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config -q (offline; no engine needed)', async () => {
    // .ci/run installs Debian's docker-compose; a developer machine without it gets a clear failure.
    const r = await execa('docker-compose', ['-f', file, 'config', '-q'], { cwd: REPO_ROOT, reject: false });
    expect(r.failed && 'code' in r && r.code === 'ENOENT' ? 'docker-compose is not installed (apt-get install docker-compose)' : r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('runs Redis with AOF, noeviction, a volume and a healthcheck; one service per stage; scalable test workers', () => {
    const doc = YAML.parse(readFileSync(file, 'utf8'), { merge: true });
    const redis = doc.services.redis;
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
    expect(redis.volumes).toContain('redis-data:/data');
    expect(redis.healthcheck.test).toContain('ping');
    for (const [svc, queues] of [['worker-propose', 'propose,produce'], ['worker-apply', 'apply'], ['worker-test', 'test'], ['worker-pr', 'pr,events']]) {
      expect(doc.services[svc!].command).toEqual(['worker', '--queues', queues]);
    }
    expect(doc.services['worker-test'].container_name).toBeUndefined();
    expect(doc.services.dashboard.ports).toEqual(['127.0.0.1:3000:3000']);
    expect(doc.services.producer.restart).toBe('no');
    expect(doc.services['worker-apply'].volumes).toContain('./prbot.config.yaml:/config/prbot.config.yaml:ro');
    expect(JSON.stringify(doc)).not.toMatch(/sk-|ghp_/);
  });
});
