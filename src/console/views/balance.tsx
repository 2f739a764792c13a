// Placeholder until the view is written.
export function BalanceView() {
  return <section><h1>balance</h1></section>;
}
