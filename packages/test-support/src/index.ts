export * from './upstream.ts';
export * from './redis-server.ts';
export * from './model-server.ts';
export * from './harness.ts';
export * from './forge-server.ts';
export * from './git-http-server.ts';
export * from './redis-cluster.ts';
export * from './forge-spec.ts';
