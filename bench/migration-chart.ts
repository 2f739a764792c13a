// placeholder
export function renderChart(_r: unknown, base: string): Promise<string> {
  return Promise.resolve(`${base}.png`);
}
