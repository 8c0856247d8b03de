// The upstream's `server` lines: a replica on the project's network by its
// address, a replica on the host's network (the load test's LT_NETWORK=host)
// by the port it claimed. No Docker needed.
import { serverLine } from '../src/upstream';

describe('serverLine', () => {
  it('a replica on a compose network: its address, port 3000', () => {
    expect(serverLine('p-realtime-1', { ip: '10.1.2.3' })).toBe('server 10.1.2.3:3000 max_fails=3 fail_timeout=10s;  # p-realtime-1');
  });

  it('a replica on the host network: 127.0.0.1 and the port it claimed', () => {
    expect(serverLine('p-realtime-2', { ip: undefined, hostPort: '31002 31102\n' })).toBe('server 127.0.0.1:31002 max_fails=3 fail_timeout=10s;  # p-realtime-2');
  });

  it('nothing known (no address, no claimed port yet): no line', () => {
    expect(serverLine('p-realtime-3', {})).toBeUndefined();
    expect(serverLine('p-realtime-3', { hostPort: '' })).toBeUndefined();
    expect(serverLine('p-realtime-3', { hostPort: 'cat: /tmp/sb-host-port: No such file' })).toBeUndefined();
  });
});
