import type { z } from 'zod';
import { describeIssue } from '@switchboard/protocol';
import { AppError } from './errors';

/** The parsed value, or AppError VALIDATION naming the first problem (an ack's error or a 400). */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('VALIDATION', describeIssue(parsed.error));
  return parsed.data;
}
