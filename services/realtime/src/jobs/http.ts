import { Router } from 'express';
import { isAdmin, type AuthedRequest } from '../auth/http';
import type { RouteGuards } from '../http/guards';
import { AppError, orUnavailable } from '../infra/errors';
import { parse } from '../infra/validation';
import { jobId as jobIdSchema, REMINDER_JOB_RE } from '@switchboard/protocol';
import type { JobQueue } from './index';

const QUEUE_DOWN = 'the job queue needs Redis, which is unavailable';

export interface JobRouterDeps extends RouteGuards {
  jobs: Pick<JobQueue, 'stats' | 'status'>;
}

/** Whose job an id names: a reminder is its mentioned user's; dispatch offer timers are operators' only. */
export function jobOwner(id: string): string | null {
  return REMINDER_JOB_RE.exec(id)?.[2] ?? null;
}

/**
 * GET /api/jobs/stats (admin) and GET /api/jobs/:id (its owner or an admin; only
 * ids of the kinds the service makes); UNAVAILABLE while the queue cannot reach Redis.
 */
export function jobRouter({ jobs, limitBy, requireAuth, requireAdmin }: JobRouterDeps): Router {
  const router = Router();

  router.get('/api/jobs/stats', limitBy('http'), requireAuth, requireAdmin, async (_req, res) => {
    res.json({ ok: true, ...(await orUnavailable(() => jobs.stats(), QUEUE_DOWN)) });
  });

  router.get('/api/jobs/:id', limitBy('http'), requireAuth, async (req: AuthedRequest, res) => {
    const id = parse(jobIdSchema, req.params.id);
    // Decided from the id alone, before any lookup: a refusal says nothing about whether the job exists.
    if (!isAdmin(req.user) && jobOwner(id) !== req.user!.userId) throw new AppError('FORBIDDEN', 'this job is not yours');
    const status = await orUnavailable(() => jobs.status(id), QUEUE_DOWN);
    if (!status) throw new AppError('NOT_FOUND', `no job ${id}`);
    res.json({ ok: true, job: status });
  });

  return router;
}
