// tus-js-client 4.3.1, protocol ietf-draft-05 (interop 6), against the server at argv[2]
const tus = require('tus-js-client');
const fs = require('fs');
const [,, base, file, name, chunk] = process.argv;
const data = fs.readFileSync(file);
const upload = new tus.Upload(data, {
  endpoint: `${base}/files/${name}`,
  protocol: 'ietf-draft-05',
  chunkSize: Number(chunk || 1 << 20),
  retryDelays: [0, 100, 300],
  onError: (e) => { console.error('ERROR', e.message); process.exit(1); },
  onSuccess: () => { console.log('OK', upload.url); },
});
upload.start();
