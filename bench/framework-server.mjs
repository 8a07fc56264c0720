// bench/overhead.mjs's handler served through a web framework (bench/paired.mjs --framework): the same handler and
// body, routed by the framework on a templated route (`/api/:collection`, which the bench's `/api/items` takes) and
// answered through the framework's own reply API, so the agent's route reads for that framework are in the path.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const FRAMEWORKS = ['http', 'express', 'express4', 'fastify'];

/**
 * A node:http server (not listening yet) serving `handle(req)` → JSON body; `onServed()` after each response is
 * handed to the framework. 'http' is the plain server bench/overhead.mjs always had.
 */
export async function frameworkServer(name, handle, onServed) {
  const http = require('node:http');
  const fail = (res, err) => {
    res.statusCode = 500;
    res.end(String(err));
  };
  if (name === 'http') {
    return http.createServer((req, res) => {
      handle(req).then((body) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        onServed();
      }, (err) => fail(res, err));
    });
  }
  if (name === 'express' || name === 'express4') {
    const app = require(name)();
    app.get('/api/:collection', (req, res) => {
      handle(req).then((body) => {
        res.type('application/json').send(body);
        onServed();
      }, (err) => fail(res, err));
    });
    return http.createServer(app);
  }
  if (name === 'fastify') {
    const app = require('fastify')({ logger: false, serverFactory: (handler) => http.createServer(handler) });
    app.get('/api/:collection', async (request, reply) => {
      const body = await handle(request.raw);
      reply.header('content-type', 'application/json');
      onServed();
      return body;
    });
    await app.ready();
    return app.server;
  }
  throw new Error(`unknown --framework ${name} (${FRAMEWORKS.join(' | ')})`);
}
