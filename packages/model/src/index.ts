export { type Refusal, type RefusalReason, type Reservation } from './budget-port.ts';
export { CassetteRecorder } from './cassette-recorder.ts';
export { chatCompletion } from './chat.ts';
export { type AnswerRecorder, BudgetRefused, type LadderBudget, type ModelsConfig, runLadder } from './ladder.ts';
export { ModelRateLimited } from './errors.ts';
export { formatProbe, probe, probeTargets } from './probe.ts';
export { buildPrompt } from './prompt.ts';
export { type Cassette, loadCassette } from './replay.ts';
