// Joining and removing hosts (src/contracts/enrolment.ts). The join routes are public: the token
// is the credential, checked and spent by the enrolment service; the rest need the admin token.
import type { FastifyInstance } from 'fastify';
import { HostRemoved, JOIN_CA_PATH, JOIN_PATH, JoinCa, JoinReply, JoinRequest, JoinToken, JoinTokenRequest } from '../../contracts/enrolment.js';
import { API_PREFIX } from '../../contracts/controller-api.js';
import { ConflictError } from '../errors.js';
import type { ClusterState } from '../cluster-state.js';
import type { EnrolmentService } from '../enrolment/service.js';
import { errorReplies, NameParams } from './schemas.js';

export interface EnrolmentDeps {
  enrolment: EnrolmentService;
  state: ClusterState;
}

/** The join routes need no credential: the join token in the body is one. */
export function isJoinPublic(method: string, path: string): boolean {
  return (method === 'GET' && path === JOIN_CA_PATH) || (method === 'POST' && path === JOIN_PATH);
}

export function enrolmentRoutes(app: FastifyInstance, deps: () => EnrolmentDeps): void {
  app.get(
    JOIN_CA_PATH,
    { schema: { tags: ['hosts'], summary: 'The cluster CA certificate (public; a joining host checks it against its token)', security: [], response: { 200: JoinCa, ...errorReplies } } },
    async () => ({ caCertificate: deps().enrolment.caPem }),
  );

  app.post<{ Body: JoinRequest }>(
    JOIN_PATH,
    {
      schema: {
        tags: ['hosts'],
        summary: 'Join a host: a one-time token and a CSR for the host\'s own key, for its certificate',
        security: [],
        body: JoinRequest,
        response: { 200: JoinReply, ...errorReplies },
      },
    },
    async (req) => deps().enrolment.join(req.body.token, req.body.name, req.body.csr),
  );

  app.post<{ Body: JoinTokenRequest }>(
    `${API_PREFIX}/hosts/tokens`,
    { schema: { tags: ['hosts'], summary: 'Mint a one-time join token for a new host', body: JoinTokenRequest, response: { 200: JoinToken, ...errorReplies } } },
    async (req) => deps().enrolment.mintToken(req.body.ttlSeconds === undefined ? undefined : req.body.ttlSeconds * 1000),
  );

  app.delete<{ Params: { name: string } }>(
    `${API_PREFIX}/hosts/:name`,
    {
      schema: {
        tags: ['hosts'],
        summary: 'Remove a host: its certificate is refused from now on (it may join again with a new token); refused while VMs are recorded on it',
        params: NameParams,
        response: { 200: HostRemoved, ...errorReplies },
      },
    },
    async (req) => {
      const { enrolment, state } = deps();
      const name = req.params.name;
      const vms = state.vms.list().filter((v) => v.host === name).map((v) => v.name);
      if (vms.length > 0) throw new ConflictError(`host ${name} still has VMs (${vms.join(', ')}): move or remove them first`);
      const revoked = enrolment.remove(name);
      if (state.hosts.remove(name)) state.publishHost(name);
      return { name, revoked };
    },
  );
}
