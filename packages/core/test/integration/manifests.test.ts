// The example configs and manifests, checked by their own tools as written: a deploy recipe
// that does not load is worse than none. (The systemd units: systemd.test.ts.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import YAML from 'yaml'
import { nginxCheck, tool } from '@graceful-restart/test-utils'
import { EXAMPLES } from './examples.ts'

test('examples/haproxy/haproxy.cfg passes haproxy -c', { timeout: 30_000 }, (t) => {
  const haproxy = tool('haproxy', t)
  if (haproxy === undefined) return
  const r = spawnSync(haproxy, ['-c', '-f', path.join(EXAMPLES, 'haproxy', 'haproxy.cfg')], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.doesNotMatch(r.stdout + r.stderr, /\[(WARNING|ALERT)\]/)
})

test('examples/nginx/app.conf passes nginx -t', { timeout: 30_000 }, (t) => {
  if (tool('nginx', t) === undefined) return
  // As written: nginx -t parses and checks everything but binds no port.
  const r = nginxCheck(fs.readFileSync(path.join(EXAMPLES, 'nginx', 'app.conf'), 'utf8'))
  assert.ok(r.ok, r.output)
  assert.match(r.output, /test is successful/)
  assert.doesNotMatch(r.output, /\[(warn|error|emerg)\]/)
})

interface Manifest { file: string, index: number, doc: { apiVersion: string, kind: string } & Record<string, unknown> }

function kubernetesManifests (): Manifest[] {
  const dir = path.join(EXAMPLES, 'kubernetes')
  const out: Manifest[] = []
  for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))
    for (const [index, doc] of docs.entries()) {
      assert.deepEqual(doc.errors, [], `${file} document ${index}: YAML errors`)
      out.push({ file, index, doc: doc.toJS() })
    }
  }
  return out
}

// kubernetes-models: the Kubernetes 1.27 OpenAPI schemas compiled to validators (types,
// required fields, formats, enums) and to TypeScript types. The validators accept unknown
// fields, as the API server's non-strict mode does; the types do not, so a misspelt field
// (`terminationGracePeriodSecond`) fails the type check below.
test('examples/kubernetes manifests match the Kubernetes schemas, with no unknown field', { timeout: 60_000 }, async () => {
  const manifests = kubernetesManifests()
  assert.ok(manifests.length >= 2, 'a Deployment and a Service at least')
  const checks: string[] = []
  const imports: string[] = []
  for (const [i, { file, index, doc }] of manifests.entries()) {
    const where = `${file} document ${index} (${doc.apiVersion} ${doc.kind})`
    // apps/v1 -> kubernetes-models/apps/v1; the core group's v1 -> kubernetes-models/v1
    const models = await import(`kubernetes-models/${doc.apiVersion}`).catch(() => undefined) as Record<string, new (data: unknown) => { validate: () => void }> | undefined
    const Model = models?.[doc.kind]
    assert.ok(Model !== undefined, `${where}: no such apiVersion and kind in Kubernetes 1.27`)
    assert.doesNotThrow(() => new Model(doc).validate(), `${where}: does not match its schema`)
    imports.push(`import type { I${doc.kind} as T${i} } from 'kubernetes-models/${doc.apiVersion}/${doc.kind}'`)
    checks.push(`// ${where}\nexport const m${i}: T${i} = ${JSON.stringify(doc, null, 2)}`)
  }
  const problems = typeCheck(`${imports.join('\n')}\n${checks.join('\n')}\n`)
  assert.deepEqual(problems, [])
})

test('the Kubernetes check fails a misspelt field and a wrong type', { timeout: 60_000 }, async () => {
  const [deployment] = kubernetesManifests().filter((m) => m.doc.kind === 'Deployment')
  assert.ok(deployment !== undefined)
  const { Deployment } = await import('kubernetes-models/apps/v1')
  const typo = structuredClone(deployment.doc) as any
  typo.spec.template.spec.terminationGracePeriodSecond = 45
  const problems = typeCheck(`import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'\nexport const d: IDeployment = ${JSON.stringify(typo)}\n`)
  assert.equal(problems.length, 1, problems.join('\n'))
  assert.match(problems[0] ?? '', /terminationGracePeriodSecond"?' does not exist in type 'IPodSpec'/)
  const wrongType = structuredClone(deployment.doc) as any
  wrongType.spec.replicas = 'three'
  assert.throws(() => new Deployment(wrongType).validate(), /replicas must be integer/)
})

/** Type errors of a TypeScript source that lives (virtually) in this package, resolving its imports. */
function typeCheck (source: string): string[] {
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  const file = path.join(root, '__kubernetes_manifests__.ts')
  const options: ts.CompilerOptions = { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'] }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, language, ...rest) => name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === file || fileExists(name)
  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}
