import type { SocketCapability } from '../gateway/sockets';
import { regionRoom, schemas } from '@switchboard/protocol';
import type { RoomsService } from '../rooms';
import type { SocketSessions } from '../sessions';
import { regionOf } from './index';

export interface RegionSocketDeps {
  /** Membership of geohash cells: a RoomsService of kind 'region'. */
  regions: RoomsService;
  /** Keeps each connection's last position. */
  sessions: Pick<SocketSessions, 'setLocation'>;
  /** Geohash length of a cell (REGION_PRECISION). */
  precision: number;
}

/** region:update puts a socket in the cell of its position; a disconnect leaves it. */
export function regionSocket({ regions, sessions, precision }: RegionSocketDeps): SocketCapability<'region:update'> {
  return {
    routes: {
      'region:update': {
        schema: schemas.regionUpdate,
        limit: 'location',
        async handle(socket, { lat, lng }) {
          const region = regionOf(lat, lng, precision);
          const previous = await sessions.setLocation(socket.id, region, lat, lng);
          if (previous && previous !== region) {
            await socket.leave(regionRoom(previous));
            await regions.leave(socket.id, previous);
          }
          if (previous !== region) {
            await socket.join(regionRoom(region));
            await regions.join(socket.id, socket.data.user.userId, region);
          }
          return { region };
        },
      },
    },
    async onDisconnect(socket) {
      await regions.leaveAll(socket.id);
    },
  };
}
