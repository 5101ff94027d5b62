/**
 * The flags of every command, split by `util.parseArgs` and checked here. Its tokens keep
 * the rules scripts already depend on: a valued flag takes the next argument whatever it
 * is (`--listen --` takes `--`), a boolean ignores a value given with `=`, and the first
 * argument that is not one of our flags, a positional before `--` included, is refused as
 * it was written.
 */
import { parseArgs } from 'node:util'
import { invalid } from './usage.ts'

const VALUED = ['listen', 'workers', 'surge', 'pid-file', 'status-file', 'upgrade-timeout', 'drain-timeout', 'timeout', 'max-draining', 'env-file',
  'watch', 'watch-debounce', 'fetch', 'releases', 'interval', 'keep', 'prepare', 'public-key', 'user', 'group', 'socket-mode', 'socket-group']
const BOOLEAN = ['wait', 'json', 'help']

const OPTIONS = Object.fromEntries([
  ...VALUED.map((name) => [name, { type: 'string' as const }]),
  ...BOOLEAN.map((name) => [name, { type: 'boolean' as const }])
])

/** Flags by name (`--listen`), each with every value given, and the arguments after `--`. */
export class Flags {
  readonly rest: string[]
  readonly #values: ReadonlyMap<string, readonly string[]>

  constructor (values: ReadonlyMap<string, readonly string[]>, rest: string[]) {
    this.#values = values
    this.rest = rest
  }

  has (name: string): boolean {
    return this.#values.has(name)
  }

  /** A repeatable flag: every value, in order. */
  all (name: string): string[] {
    return [...this.#values.get(name) ?? []]
  }

  /** A flag given at most once. */
  one (name: string): string | undefined {
    const values = this.#values.get(name)
    if (values !== undefined && values.length > 1) throw invalid(`${name} given more than once`)
    return values?.[0]
  }

  /** A non-negative integer of at least `min`; undefined when the flag is absent. */
  integer (name: string, min: number): number | undefined {
    const text = this.one(name)
    if (text === undefined) return undefined
    const value = Number(text)
    if (!/^\d+$/.test(text) || value < min) throw invalid(`${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`)
    return value
  }
}

export function parseFlags (args: readonly string[]): Flags {
  const { tokens } = parseArgs({ args: [...args], options: OPTIONS, strict: false, allowPositionals: true, tokens: true })
  const values = new Map<string, string[]>()
  for (const token of tokens) {
    if (token.kind === 'option-terminator') return new Flags(values, args.slice(token.index + 1))
    if (token.kind === 'positional' || !Object.hasOwn(OPTIONS, token.name) || token.rawName !== `--${token.name}`) {
      throw invalid(`unknown option ${JSON.stringify(args[token.index])}`)
    }
    const name = token.rawName
    if (BOOLEAN.includes(token.name)) {
      values.set(name, ['true'])
      continue
    }
    if (token.value === undefined) throw invalid(`${name} needs a value`)
    values.set(name, [...values.get(name) ?? [], token.value])
  }
  return new Flags(values, [])
}
