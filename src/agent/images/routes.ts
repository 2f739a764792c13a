// Agent API routes of the image library (route table: src/contracts/agent-routes.ts).
import type { FastifyInstance } from 'fastify';
import type { AgentImportRequest, AgentReceiveImageRequest, AgentSendImageRequest } from '../../contracts/index.js';
import { AGENT_ROUTES as R } from '../../contracts/agent-routes.js';
import type { ImageLibrary } from './library.js';

type JobId = { id: string };
type ImageId = { imageId: string };

export function registerImageRoutes(app: FastifyInstance, lib: () => ImageLibrary): void {
  app.get(R.imagesHeld.url, async () => lib().held());
  app.post<{ Body: AgentImportRequest }>(R.imageImport.url, { schema: R.imageImport.schema }, async (req) => lib().import(req.body));
  app.post<{ Body: AgentSendImageRequest }>(R.imageSend.url, { schema: R.imageSend.schema }, async (req) => lib().send(req.body));
  app.post<{ Body: AgentReceiveImageRequest }>(R.imageReceive.url, { schema: R.imageReceive.schema }, async (req) => lib().receive(req.body));
  app.get<{ Params: JobId }>(R.imageJob.url, { schema: R.imageJob.schema }, async (req) => lib().job(req.params.id));
  app.post<{ Params: JobId }>(R.imageJobAbort.url, { schema: R.imageJobAbort.schema }, async (req) => lib().abort(req.params.id));
  app.delete<{ Params: ImageId }>(R.imageRemove.url, { schema: R.imageRemove.schema }, async (req, reply) => {
    lib().remove(req.params.imageId);
    return reply.status(204).send();
  });
}
