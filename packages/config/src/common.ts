import { z } from 'zod';

export const argv = z.array(z.string().min(1)).min(1, 'an argv array needs at least the program name');
export const positiveInt = z.number().int().positive();
export const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');
