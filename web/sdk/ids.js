// Client ids: a millisecond timestamp then random characters, so ids made
// later sort later (the server's idempotency index then appends) and two
// tabs never collide.
export function clientId() {
  const rnd = new Uint8Array(8);
  crypto.getRandomValues(rnd);
  let r = '';
  for (const b of rnd) r += (b % 36).toString(36);
  return 'c' + Date.now().toString(36).padStart(9, '0') + r;
}
