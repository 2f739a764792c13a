// Placeholder until the view is written.
export function DrView() {
  return <section><h1>dr</h1></section>;
}
