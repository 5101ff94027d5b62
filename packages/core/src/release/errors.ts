/**
 * Why a fetched release was refused, as a stable code and a short reason that `status`
 * shows. A refused release is not tried again until the manifest names another one.
 */
import { GracefulError, type GracefulErrorCode } from '../errors.ts'
import type { RefusalReason } from './source.ts'

const CODES: Record<RefusalReason, GracefulErrorCode> = {
  manifest: 'ERR_GRACEFUL_RELEASE_MANIFEST',
  download: 'ERR_GRACEFUL_RELEASE_DOWNLOAD',
  checksum: 'ERR_GRACEFUL_RELEASE_CHECKSUM',
  signature: 'ERR_GRACEFUL_RELEASE_SIGNATURE',
  unpack: 'ERR_GRACEFUL_RELEASE_UNPACK',
  prepare: 'ERR_GRACEFUL_RELEASE_PREPARE',
  'not-ready': 'ERR_GRACEFUL_RELEASE_NOT_READY'
}

export class ReleaseError extends GracefulError {
  readonly reason: RefusalReason

  constructor (reason: RefusalReason, message: string, options?: ErrorOptions) {
    super(CODES[reason], message, options)
    this.name = 'ReleaseError'
    this.reason = reason
  }
}
