// A second, independent S3 client for the blob store's tests: the AWS SDK
// for JavaScript reads back (and writes) objects, so what hangtight stores
// is checked by code that shares nothing with it.  Prints one JSON line.
//
//   node sdk.mjs ENDPOINT BUCKET head KEY          {bytes, content_type, sha256_meta}
//   node sdk.mjs ENDPOINT BUCKET get KEY [FIRST LAST]   {bytes, sha256} of the body
//   node sdk.mjs ENDPOINT BUCKET put KEY FILE TYPE {etag}
//   node sdk.mjs ENDPOINT BUCKET list PREFIX       {keys: [...]}
//
// Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (s3rver's are
// S3RVER/S3RVER).  Exits 1 with the error on stderr.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

const [endpoint, bucket, cmd, key, ...rest] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint,
  region: process.env.HANGTIGHT_S3_REGION || 'us-east-1',
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  // s3rver knows nothing of the SDK's newer flexible checksums.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

async function main() {
  switch (cmd) {
    case 'head': {
      const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        bytes: h.ContentLength,
        content_type: h.ContentType,
        sha256_meta: (h.Metadata || {}).sha256 || '',
      };
    }
    case 'get': {
      const range = rest.length === 2 ? `bytes=${rest[0]}-${rest[1]}` : undefined;
      const g = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of g.Body) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      return { bytes, sha256: hash.digest('hex') };
    }
    case 'put': {
      const [file, type] = rest;
      const p = await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: createReadStream(file),
          ContentLength: statSync(file).size,
          ContentType: type,
        }),
      );
      return { etag: p.ETag };
    }
    case 'list': {
      const keys = [];
      let token;
      do {
        const l = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }),
        );
        for (const o of l.Contents || []) keys.push(o.Key);
        token = l.IsTruncated ? l.NextContinuationToken : undefined;
      } while (token);
      return { keys: keys.sort() };
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().then(
  out => console.log(JSON.stringify(out)),
  err => {
    console.error(`sdk.mjs ${cmd} ${key}: ${err.name}: ${err.message}`);
    process.exit(1);
  },
);
