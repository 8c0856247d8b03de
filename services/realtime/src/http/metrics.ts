import http from 'node:http';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';

/**
 * The internal listener (METRICS_HOST:METRICS_PORT): GET /metrics for Prometheus
 * and nothing else. nginx and the ingress do not proxy this port, so the
 * replicas' internals are seen only from inside the network they run on.
 */
export function createMetricsServer(metrics: Metrics, log: Logger): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
      .catch((err: Error) => {
        log.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      });
  });
}
