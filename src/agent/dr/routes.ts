// Agent API routes of disaster recovery (route table: src/contracts/agent-routes.ts).
import type { FastifyInstance } from 'fastify';
import type { ReceiveCheckpointRequest, RestoreRequest, SendCheckpointRequest } from '../../contracts/index.js';
import { AGENT_ROUTES as R } from '../../contracts/agent-routes.js';
import type { DrService } from './service.js';

type JobId = { id: string };
type StoreVm = { vm: string };

export function registerDrRoutes(app: FastifyInstance, svc: () => DrService): void {
  app.post<{ Body: ReceiveCheckpointRequest }>(R.drReceive.url, { schema: R.drReceive.schema }, async (req) => svc().receive(req.body));
  app.post<{ Body: SendCheckpointRequest }>(R.drSend.url, { schema: R.drSend.schema }, async (req) => svc().send(req.body));
  app.get<{ Params: JobId }>(R.drJob.url, { schema: R.drJob.schema }, async (req) => svc().job(req.params.id));
  app.post<{ Params: JobId }>(R.drAbort.url, { schema: R.drAbort.schema }, async (req) => svc().abort(req.params.id));
  app.get<{ Params: StoreVm }>(R.drStored.url, { schema: R.drStored.schema }, async (req) => svc().list(req.params.vm));
  app.delete<{ Params: StoreVm }>(R.drDeleteStore.url, { schema: R.drDeleteStore.schema }, async (req) => svc().drop(req.params.vm));
  app.post<{ Body: RestoreRequest }>(R.drRestore.url, { schema: R.drRestore.schema }, async (req) => svc().restore(req.body));
  app.post(R.drScrub.url, { schema: R.drScrub.schema }, async () => svc().scrub());
}
