// The example configs as the tests run them: read from examples/ as written, with only the
// addresses pointed at the test's ports, so an example cannot drift from what is tested.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const EXAMPLES = fileURLToPath(new URL('../../../../../examples/', import.meta.url))

/** examples/nginx/app.conf, listening on 127.0.0.1:front and proxying to 127.0.0.1:app. */
export function nginxSite (front: number, app: number): string {
  const text = fs.readFileSync(path.join(EXAMPLES, 'nginx', 'app.conf'), 'utf8')
  for (const line of ['listen 80;', 'server 127.0.0.1:8080;']) {
    assert.equal(text.split(line).length, 2, `examples/nginx/app.conf should hold "${line}" once`)
  }
  return text.replace('listen 80;', `listen 127.0.0.1:${front};`).replace('server 127.0.0.1:8080;', `server 127.0.0.1:${app};`)
}
