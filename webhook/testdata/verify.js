// Verifies webhooks with the Standard Webhooks reference implementation
// (npm standardwebhooks). Input on stdin: {"secret", "deliveries": [{headers, body}]}.
// Prints "verified N" or exits non-zero.
const { Webhook } = require(process.env.STANDARDWEBHOOKS_DIR);
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const { secret, deliveries } = JSON.parse(input);
  const wh = new Webhook(secret);
  for (const d of deliveries) {
    const payload = wh.verify(d.body, d.headers); // throws on a bad signature
    if (!payload.type || !payload.data) throw new Error('not a Standard Webhooks payload');
  }
  // A tampered body must fail.
  const d = deliveries[0];
  let refused = false;
  try { wh.verify(d.body + ' ', d.headers); } catch (e) { refused = true; }
  if (!refused) throw new Error('a tampered body verified');
  console.log('verified ' + deliveries.length);
});
