// The controller's end of `ferry vm console --attach` (src/contracts/console-attach.ts): an
// upgraded connection with the admin token, forwarded to the agent of the host the VM runs on
// at the moment it is asked (after a migration, the new host) with the cluster secret. Bytes are
// relayed as they come; when either side ends, both do.
import { request, type Server } from 'node:http';
import { API_PREFIX, AGENT_API_PREFIX, bearerMatches, FerryError } from '../contracts/index.js';
import type { LeadershipView } from './api/leadership.js';
import { acceptUpgrade, attachPath, attachTarget, CONSOLE_UPGRADE, refuseUpgrade, splice } from '../contracts/console-attach.js';

const AGENT_CONNECT_TIMEOUT_MS = 10_000;

export interface AttachDeps {
  adminToken: string;
  clusterSecret: string;
  /** The agent URL of the VM's current host; throws a FerryError (404, 503) otherwise. */
  agentUrlOf(vm: string): string;
  /** A standby calls no agent: it names the leader instead (api/leadership.ts). */
  leadership?: LeadershipView;
}

export function serveConsoleAttach(server: Server, deps: () => AttachDeps): void {
  server.on('upgrade', (req, client) => {
    client.on('error', () => undefined);
    const name = attachTarget(req, API_PREFIX);
    if (!name || req.headers.upgrade !== CONSOLE_UPGRADE) return refuseUpgrade(client, 404, 'NOT_FOUND', 'no such upgrade');
    const d = deps();
    if (!bearerMatches(req.headers.authorization, [d.adminToken])) return refuseUpgrade(client, 401, 'UNAUTHORIZED', 'missing or invalid credential (Authorization: Bearer <token>)');
    if (d.leadership && !d.leadership.leads()) {
      const leader = d.leadership.leaderUrl();
      return refuseUpgrade(client, 503, 'NOT_LEADER', leader ? `this controller is a standby; attach at the leader ${leader}` : 'this controller is a standby and no leader is known yet');
    }
    let url: string;
    try {
      url = d.agentUrlOf(name);
    } catch (err) {
      const fe = err instanceof FerryError ? err : new FerryError('INTERNAL', String(err));
      return refuseUpgrade(client, fe.httpStatus, fe.code, fe.message);
    }
    const up = request(new URL(attachPath(AGENT_API_PREFIX, name), url), {
      headers: { connection: 'Upgrade', upgrade: CONSOLE_UPGRADE, authorization: `Bearer ${d.clusterSecret}` },
      timeout: AGENT_CONNECT_TIMEOUT_MS,
    });
    up.on('upgrade', (_res, agent, head) => {
      up.setTimeout(0);
      acceptUpgrade(client);
      if (head.length > 0) client.write(head);
      splice(client, agent);
    });
    up.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body = (body + c).slice(0, 4096)));
      res.on('end', () => {
        let msg = body;
        try {
          msg = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
        } catch {
          // not JSON: passed on as it is
        }
        refuseUpgrade(client, res.statusCode ?? 502, res.statusMessage ?? 'HOST_DOWN', msg);
      });
    });
    up.on('timeout', () => up.destroy(new Error(`no answer within ${AGENT_CONNECT_TIMEOUT_MS} ms`)));
    up.on('error', (err) => {
      if (!client.destroyed) refuseUpgrade(client, 503, 'HOST_DOWN', `the agent of ${name}: ${err.message}`);
    });
    up.end();
  });
}
