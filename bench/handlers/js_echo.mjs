// bench/handlers/js_echo.mjs: the persistent Node handler of the bench: the
// example runner (examples/handlers/node/handler.mjs) around the function
// the BullMQ peer runs (bench/peers/fastify-bullmq/worker.js: the result is
// the payload).
import { serve } from "../../examples/handlers/node/handler.mjs";

await serve(async (job) => job.payload);
