import type { Namespace } from 'socket.io';

/** The two steps of the in-memory adapter's broadcast that every adapter variant runs for local delivery. */
interface LocalDelivery {
  _encode(packet: { data?: unknown[] }, opts: unknown): unknown;
  apply(opts: unknown, deliver: (socket: unknown) => void): void;
}

/**
 * Counts the events a namespace delivers to this replica's sockets with one
 * counter update per broadcast (its number of local recipients), not one per
 * delivered packet: a hook on every outgoing packet cost each broadcast to N
 * sockets N metric updates.
 *
 * Every adapter (classic, sharded, streams) delivers locally through the
 * in-memory adapter's broadcast, for its own emits and for those relayed from
 * other replicas alike: it encodes the packet once (`_encode`), then calls
 * `apply` with a writer per socket. `apply` without an encode just before it
 * (socket lookups, joins) is left alone.
 */
export function countDeliveries(nsp: Pick<Namespace, 'adapter'>, count: (event: string, recipients: number) => void): void {
  const adapter = nsp.adapter as unknown as LocalDelivery;
  const encode = adapter._encode.bind(adapter);
  const apply = adapter.apply.bind(adapter);
  let event: string | undefined;
  adapter._encode = (packet, opts) => {
    event = typeof packet?.data?.[0] === 'string' ? packet.data[0] : undefined;
    return encode(packet, opts);
  };
  adapter.apply = (opts, deliver) => {
    const name = event;
    event = undefined;
    if (name === undefined) return apply(opts, deliver);
    let recipients = 0;
    apply(opts, (socket) => {
      recipients++;
      deliver(socket);
    });
    if (recipients > 0) count(name, recipients);
  };
}
