/**
 * A downloaded tarball is trusted only if its sha256 is the manifest's and, with
 * --public-key, the manifest's `signature` is a valid ed25519 signature of its bytes.
 */
import { createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import { invalidOption } from '../errors.ts'
import { ReleaseError } from './errors.ts'

/** Reads an ed25519 public key (PEM, SPKI); a wrong key is an option error at start. */
export function readPublicKey (file: string): KeyObject {
  let key: KeyObject
  try {
    key = createPublicKey(fs.readFileSync(file))
  } catch (err) {
    throw invalidOption('--public-key', 'a readable PEM ed25519 public key', `${file} (${(err as Error).message})`)
  }
  if (key.asymmetricKeyType !== 'ed25519') throw invalidOption('--public-key', 'an ed25519 public key', `${file} (${String(key.asymmetricKeyType)})`)
  return key
}

export function checkSha256 (actual: string, expected: string): void {
  const a = Buffer.from(actual, 'hex')
  const b = Buffer.from(expected, 'hex')
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new ReleaseError('checksum', `sha256 mismatch: the manifest says ${expected}, the download is ${actual}`)
  }
}

export async function checkSignature (file: string, signature: string | undefined, key: KeyObject): Promise<void> {
  if (signature === undefined) throw new ReleaseError('signature', 'the manifest has no "signature", and --public-key requires one')
  const sig = Buffer.from(signature, 'base64')
  const data = await fs.promises.readFile(file)
  let ok = false
  try {
    ok = sig.length === 64 && verify(null, data, key, sig)
  } catch {}
  if (!ok) throw new ReleaseError('signature', 'the ed25519 signature does not match the tarball and --public-key')
}
