import { Router } from 'express';
import ngeohash from 'ngeohash';
import type { RouteGuards } from '../http/guards';
import { parse } from '../infra/validation';
import { geohash as geohashSchema } from '@switchboard/protocol';
import type { RoomsService } from '../rooms';

export interface RegionRouterDeps extends RouteGuards {
  regions: Pick<RoomsService, 'membersOfMany'>;
}

/** GET /api/regions/:hash/members?neighbors=1: who is in a cell (and the eight around it). */
export function regionRouter({ regions, limitBy, requireAuth }: RegionRouterDeps): Router {
  const router = Router();
  router.get('/api/regions/:hash/members', limitBy('http'), requireAuth, async (req, res) => {
    const region = parse(geohashSchema, req.params.hash);
    const cells = req.query.neighbors === '1' ? [region, ...ngeohash.neighbors(region)] : [region];
    const byCell = await regions.membersOfMany(cells);
    res.json({ ok: true, region, cells: byCell });
  });
  return router;
}
