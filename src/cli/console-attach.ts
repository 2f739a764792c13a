// `ferry vm console VM --attach`: the guest's serial port in this terminal, both ways
// (src/contracts/console-attach.ts), through the controller to wherever the VM runs. Ctrl-]
// leaves; on a terminal, input is raw (keys go to the guest as typed), restored on the way out.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { API_PREFIX } from '../contracts/controller-api.js';
import { FerryError, isErrorCode } from '../contracts/errors.js';
import { attachPath, CONSOLE_ESCAPE, CONSOLE_UPGRADE } from '../contracts/console-attach.js';
import { controllerUrls, ferryHome, readClusterFile, resolveConnection } from './config.js';
import { note, UsageError } from './output.js';

export function attachConsole(name: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const env = process.env;
  const cluster = readClusterFile(ferryHome(env));
  const conn = resolveConnection(env, cluster);
  if (!conn) throw new UsageError('no cluster: run ferry up, or set FERRY_URL and FERRY_TOKEN', 1);
  const base = new URL(controllerUrls(conn, cluster)[0]!);
  const request = base.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(new URL(attachPath(API_PREFIX, name), base), { headers: { connection: 'Upgrade', upgrade: CONSOLE_UPGRADE, authorization: `Bearer ${conn.token}` } });
    req.on('error', (err) => reject(new FerryError('HOST_DOWN', `cannot reach ${base.origin}: ${err.message}`)));
    req.on('response', (res) => {
      let raw = '';
      res.setEncoding('utf8').on('data', (c: string) => (raw = (raw + c).slice(0, 8192)));
      res.on('end', () => {
        let e: { code?: string; message?: string } | undefined;
        try {
          e = (JSON.parse(raw) as { error?: { code?: string; message?: string } }).error;
        } catch {
          e = undefined;
        }
        reject(new FerryError(e?.code && isErrorCode(e.code) ? e.code : 'INTERNAL', e?.message ?? `HTTP ${res.statusCode}`));
      });
    });
    req.on('upgrade', (_res, sock, head) => {
      const raw = input.isTTY === true;
      note(`attached to ${name}'s serial console; Ctrl-] leaves`);
      if (raw) input.setRawMode(true);
      if (head.length > 0) output.write(head);
      const onInput = (d: Buffer): void => {
        const esc = d.indexOf(CONSOLE_ESCAPE);
        if (esc >= 0) {
          if (esc > 0) sock.write(d.subarray(0, esc));
          return leave();
        }
        sock.write(d);
      };
      let left = false;
      const leave = (): void => {
        if (left) return;
        left = true;
        input.off('data', onInput);
        if (raw) input.setRawMode(false);
        input.pause();
        sock.destroy();
        note(`\r\ndetached from ${name}`);
        resolve();
      };
      input.on('data', onInput);
      input.resume();
      sock.on('data', (d: Buffer) => output.write(d));
      sock.on('close', leave);
      sock.on('error', leave);
    });
    req.end();
  });
}
