// Uploads a file to the server with tus-js-client (the version pinned in package.json) in its
// IETF mode, `protocol: 'ietf-draft-05'`, which sends Upload-Draft-Interop-Version 6.
//
//   node tus_upload.js ENDPOINT FILE [--chunk BYTES] [--with-creation] [--defer-length]
//                      [--stop-after CHUNKS] [--resume URL]
//
// ENDPOINT is the creating request's URL (http://127.0.0.1:PORT/files/NAME). --with-creation
// sends the first chunk with the creating request; --defer-length leaves Upload-Length to the
// last append; --stop-after aborts the upload once that many appends were answered, as a client
// that goes away would; --resume continues the upload resource at URL from the server's offset
// instead of creating one. The source is a Buffer (a Node stream source with --defer-length
// declares a whole chunk's Content-Length for a shorter last one: a client bug).
// One line per event on stdout, for tests/it/tus.rs to read:
//   REQUEST <method> <url> <Upload-Offset sent or -> <Upload-Length sent or ->
//   RESPONSE <method> <status> <Location or -> <Upload-Offset or -> <Upload-Complete or ->
//   INTERIM <status> <Location or -> <Upload-Offset or -> <Upload-Limit or ->
//   CHUNK <bytes accepted> <offset>
//   STOPPED <upload URL>      (after --stop-after)
//   DONE <upload URL>         (the server took the whole file)
// An error prints ERROR and exits with 1.
const fs = require('fs');
const http = require('http');

// tus-js-client itself reads only final responses; Node hands interim ones (a 104 with the
// upload's Location) to an 'information' listener, so wrap the function its HTTP stack calls,
// before that stack copies it at its require.
const request = http.request;
http.request = (...args) => request(...args).on('information', (info) => {
  console.log('INTERIM', info.statusCode, show(info.headers.location),
    show(info.headers['upload-offset']), show(info.headers['upload-limit']));
});
const tus = require('tus-js-client');

const [endpoint, file, ...flags] = process.argv.slice(2);
const option = (name) => {
  const at = flags.indexOf(name);
  return at < 0 ? undefined : flags[at + 1];
};
const stopAfter = Number(option('--stop-after') || Infinity);
const show = (value) => (value == null || value === '' ? '-' : value);

let chunks = 0;
const upload = new tus.Upload(fs.readFileSync(file), {
  endpoint,
  uploadUrl: option('--resume'),
  protocol: 'ietf-draft-05',
  chunkSize: Number(option('--chunk') || 1 << 20),
  uploadDataDuringCreation: flags.includes('--with-creation'),
  uploadLengthDeferred: flags.includes('--defer-length'),
  // A retry first asks the server for its offset (HEAD), then appends from there.
  retryDelays: [0, 100, 300, 1000, 3000],
  // The test names its upload resources itself; no fingerprint file in the home directory.
  storeFingerprintForResuming: false,
  onBeforeRequest: (req) => {
    const field = (name) => show(req.getHeader(name));
    console.log('REQUEST', req.getMethod(), req.getURL(), field('Upload-Offset'),
      field('Upload-Length'));
  },
  onAfterResponse: (req, res) => {
    const field = (name) => show(res.getHeader(name));
    console.log('RESPONSE', req.getMethod(), res.getStatus(), field('Location'),
      field('Upload-Offset'), field('Upload-Complete'));
  },
  onChunkComplete: (accepted, offset) => {
    console.log('CHUNK', accepted, offset);
    chunks += 1;
    if (chunks >= stopAfter) {
      upload.abort().then(() => {
        console.log('STOPPED', upload.url);
        process.exit(0);
      });
    }
  },
  onError: (e) => {
    console.log('ERROR', e.message.replace(/\s+/g, ' '));
    process.exit(1);
  },
  onSuccess: () => {
    console.log('DONE', upload.url);
    process.exit(0);
  },
});
upload.start();
