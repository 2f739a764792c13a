// Monitoring routes: the VM and host time series (`ferry metrics`), and the Prometheus /
// OpenMetrics exposition at /metrics (admin token, as Prometheus' `authorization` config sends
// it). Durations in the query are parsed here into ms; the metrics service validates the rest.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { API_PREFIX } from '../../contracts/controller-api.js';
import { HostSeries, METRICS_PATH, MetricsQuery, VmSeries } from '../../contracts/metrics.js';
import type { PrometheusEndpoint } from '../metrics/prometheus.js';
import { DEFAULT_WINDOW_MS, parseDurationMs, STEP_FIELD, WINDOW_FIELD } from '../metrics/query.js';
import type { MetricsService } from '../metrics/service.js';
import { errorReplies, NameParams } from './schemas.js';

const tags = ['metrics'];

export interface MetricsDeps {
  metrics: MetricsService;
  prometheus: PrometheusEndpoint;
}

function window(q: MetricsQuery): [number, number | undefined] {
  const w = q.window === undefined ? DEFAULT_WINDOW_MS : parseDurationMs(q.window, WINDOW_FIELD);
  return [w, q.step === undefined ? undefined : parseDurationMs(q.step, STEP_FIELD)];
}

export function metricsRoutes(app: FastifyInstance, deps: () => MetricsDeps): void {
  const p = `${API_PREFIX}/metrics`;
  const query = 'window: 90s, 10m, 1h, 2d (default 10m, at most 14d); step: coarser points than the tier answering';

  app.get<{ Params: { name: string }; Querystring: MetricsQuery }>(
    `${p}/vms/:name`,
    { schema: { tags, summary: `A VM's time series (${query})`, params: NameParams, querystring: MetricsQuery, response: { 200: VmSeries, ...errorReplies } } },
    async (req) => deps().metrics.vmSeries(req.params.name, ...window(req.query)),
  );

  app.get<{ Params: { name: string }; Querystring: MetricsQuery }>(
    `${p}/hosts/:name`,
    { schema: { tags, summary: `A host's time series (${query})`, params: NameParams, querystring: MetricsQuery, response: { 200: HostSeries, ...errorReplies } } },
    async (req) => deps().metrics.hostSeries(req.params.name, ...window(req.query)),
  );

  app.get(
    METRICS_PATH,
    {
      schema: {
        tags,
        summary: 'Prometheus text, or OpenMetrics with Accept: application/openmetrics-text (admin token): hosts, VMs, migrations, DR, tasks',
        produces: ['text/plain', 'application/openmetrics-text'],
        response: { 200: { content: { 'text/plain': { schema: Type.String() }, 'application/openmetrics-text': { schema: Type.String() } } }, ...errorReplies },
      },
    },
    async (req, reply) => {
      const { contentType, body } = await deps().prometheus.scrape(req.headers.accept);
      return reply.type(contentType).send(body);
    },
  );
}
