// Placeholder until the view is written.
export function ClusterView() {
  return <section><h1>cluster</h1></section>;
}
