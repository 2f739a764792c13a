// Placeholder until the view is written.
export function VmView({ name }: { name: string }) {
  return <section><h1>{name}</h1></section>;
}
