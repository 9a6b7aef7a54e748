// Starts s3rver (the S3-protocol server of the blob store's tests) on
// 127.0.0.1 with a port the kernel picks, creates the buckets named on the
// command line, and writes the port into PORT_FILE once it listens (through
// a rename, so a reader never sees half of it).  SIGTERM ends it with
// status 0, as the test harness expects of every process it started.
//
//   node s3rver.cjs DATA_DIR PORT_FILE BUCKET...
'use strict';

const fs = require('fs');
const S3rver = require('s3rver');

const [dir, portFile, ...buckets] = process.argv.slice(2);
if (!dir || !portFile) {
  console.error('usage: node s3rver.cjs DATA_DIR PORT_FILE BUCKET...');
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: false,
  vhostBuckets: false,
  configureBuckets: buckets.map(name => ({ name, configs: [] })),
});
server
  .run()
  .then(({ port }) => {
    fs.writeFileSync(portFile + '.tmp', String(port));
    fs.renameSync(portFile + '.tmp', portFile);
    console.log('s3rver listening on 127.0.0.1:%d', port);
  })
  .catch(err => {
    console.error(err);
    process.exit(1);
  });
