import ngeohash from 'ngeohash';

/** Geohash cell of a coordinate; connections in one cell share the Socket.IO room `region:<hash>`. */
export function regionOf(lat: number, lng: number, precision: number): string {
  return ngeohash.encode(lat, lng, precision);
}
