// `ferry image import|list|rm`: the image library (src/contracts/images.ts). An import is a
// task (progress bar on a TTY); the file must be on the importing host, under a directory its
// agent allows for images.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Task } from '../../contracts/controller-api.js';
import type { ImageRecord, ImportImageRequest } from '../../contracts/images.js';
import { bytes } from '../../contracts/format.js';
import { connect } from '../config.js';
import { progressBar } from '../migration-format.js';
import { printJson, printTable, setErrorContext } from '../output.js';
import { waitTask, taskError } from '../wait-task.js';
import { jsonOption, taskLine, waitOptions, type JsonOpt, type WaitOpts } from './common.js';

const imagePath = (name: string): string => `/api/v1/images/${encodeURIComponent(name)}`;

export function registerImage(program: Command): void {
  const image = program.command('image').description('the image library: disk images, kernels and initrds that hosts fetch on demand');

  waitOptions(image.command('import').argument('<file>', 'a qcow2 or raw disk image, a kernel or an initrd (detected from the content)').argument('<name>', 'the name VMs use'))
    .description('import a file into the library; --json prints the image')
    .option('--host <HOST>', 'the host that has the file (default: any host that is up)')
    .action(async (file: string, name: string, o: WaitOpts & { host?: string }) => {
      setErrorContext(`image ${name}`);
      const body: ImportImageRequest = { name, path: resolve(file), ...(o.host !== undefined ? { host: o.host } : {}) };
      const api = connect();
      const task = await api.post<Task>('/api/v1/images', body);
      if (!o.wait) {
        if (o.json) printJson(task);
        else process.stdout.write(`${taskLine(task)}\n`);
        return;
      }
      const done = await waitTask(api, task, progressBar);
      if (done.state !== 'succeeded') throw taskError(done);
      const img = done.result as ImageRecord;
      if (o.json) printJson(img);
      else process.stdout.write(`image ${img.name}: ${img.format}, ${bytes(img.virtualSize)} virtual, ${bytes(img.storedBytes)} stored, on ${img.hosts.join(', ')}\n`);
    });

  jsonOption(image.command('list').alias('ls').description('list the library')).action(async (o: JsonOpt) => {
    const images = await connect().get<ImageRecord[]>('/api/v1/images');
    if (o.json) return printJson(images);
    printTable(
      ['NAME', 'FORMAT', 'VIRTUAL', 'STORED', 'HOSTS', 'USED BY'],
      images.map((i) => [i.name, i.format, bytes(i.virtualSize), bytes(i.storedBytes), i.hosts.join(',') || '-', i.usedBy.join(',') || '-']),
    );
  });

  image.command('rm').alias('remove').argument('<name>').description('remove an image from the library and its hosts (refused while a VM uses it)').action(async (name: string) => {
    setErrorContext(`image ${name}`);
    await connect().delete(imagePath(name));
    process.stdout.write(`image ${name}: removed\n`);
  });
}
