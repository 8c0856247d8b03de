import { Router } from 'express';
import type { RouteGuards } from '../http/guards';
import { AppError, orUnavailable } from '../infra/errors';
import { parse } from '../infra/validation';
import { jobId as jobIdSchema } from '@switchboard/protocol';
import type { JobQueue } from './index';

const QUEUE_DOWN = 'the job queue needs Redis, which is unavailable';

export interface JobRouterDeps extends RouteGuards {
  jobs: Pick<JobQueue, 'stats' | 'status'>;
}

/** GET /api/jobs/stats and GET /api/jobs/:id; UNAVAILABLE while the queue cannot reach Redis. */
export function jobRouter({ jobs, limitBy, requireAuth }: JobRouterDeps): Router {
  const router = Router();

  router.get('/api/jobs/stats', limitBy('http'), requireAuth, async (_req, res) => {
    res.json({ ok: true, ...(await orUnavailable(() => jobs.stats(), QUEUE_DOWN)) });
  });

  router.get('/api/jobs/:id', limitBy('http'), requireAuth, async (req, res) => {
    const id = parse(jobIdSchema, req.params.id);
    const status = await orUnavailable(() => jobs.status(id), QUEUE_DOWN);
    if (!status) throw new AppError('NOT_FOUND', `no job ${id}`);
    res.json({ ok: true, job: status });
  });

  return router;
}
