// Placeholder until the view is written.
export function MigrationsView() {
  return <section><h1>migrations</h1></section>;
}
