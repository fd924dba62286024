#!/usr/bin/env node
// The prbot command: one entry point for every process, so a deployment needs neither pnpm nor
// tsx (`node dist/prbot.js worker`). Each subcommand loads only its own app (dynamic import),
// so a worker never pays for the dashboard's modules.
//
// This launcher is the one place allowed to import apps (see .dependency-cruiser.cjs); the apps
// themselves never import each other.

const USAGE = `usage: prbot <command> [options]
  worker      run stage workers (prbot worker --help)
  dashboard   serve the dashboard (--host, --port, --read-only, --config)
  produce     scan the PRD and enqueue a cycle per gap
  status      jobs per queue, paused or not, budget left today
  pause       stop queues from starting jobs
  resume      let them start again
  probe       check which model rungs answer
  doctor      check this machine and config
Every other word is handed to the producer CLI (prbot produce --help).`;

async function launch(argv: string[]): Promise<void> {
  const command = argv[2];
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    process.exitCode = command === undefined ? 2 : 0;
    return;
  }
  if (command === 'worker' || command === 'dashboard') {
    // The apps' mains parse process.argv.slice(2) as their options: drop the subcommand.
    argv.splice(2, 1);
    await (command === 'worker' ? import('@prbot/worker/main') : import('@prbot/dashboard/main'));
    return;
  }
  // produce, status, pause, resume, probe, doctor …: the producer CLI takes the command first.
  await import('@prbot/producer/cli');
}

await launch(process.argv);
