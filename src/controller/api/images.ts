// /api/v1/images routes (src/contracts/images.ts): the image library.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { API_PREFIX } from '../../contracts/controller-api.js';
import { ImageRecord, ImportImageRequest } from '../../contracts/images.js';
import type { ImageService } from '../images/service.js';
import { NameParams, errorReplies, ref } from './schemas.js';

const tags = ['images'];

export function imageRoutes(app: FastifyInstance, images: () => ImageService): void {
  const p = `${API_PREFIX}/images`;

  app.get(p, { schema: { tags, summary: 'List the image library', response: { 200: Type.Array(ImageRecord), ...errorReplies } } }, async () => images().list());

  app.post<{ Body: ImportImageRequest }>(
    p,
    {
      schema: {
        tags,
        summary: "Import a file from a host (format from qemu-img info and the content: qcow2, raw, kernel, initrd); the task's result is the image",
        body: ImportImageRequest,
        response: { 202: ref('Task'), ...errorReplies },
      },
    },
    async (req, reply) => reply.status(202).send(images().import(req.body)),
  );

  app.get<{ Params: { name: string } }>(
    `${p}/:name`,
    { schema: { tags, summary: 'Show an image', params: NameParams, response: { 200: ImageRecord, ...errorReplies } } },
    async (req) => images().get(req.params.name),
  );

  app.delete<{ Params: { name: string } }>(
    `${p}/:name`,
    { schema: { tags, summary: 'Remove an image from the library and every host (409 while a VM uses it)', params: NameParams, response: { 204: Type.Null(), ...errorReplies } } },
    async (req, reply) => {
      await images().remove(req.params.name);
      return reply.status(204).send();
    },
  );
}
