export { closeServer, get } from './http.ts'
export type { Answer, GetOptions } from './http.ts'
export { eventLines, parseEventLine } from './events.ts'
export type { EventLine } from './events.ts'
export { startLoad } from './load.ts'
export type { CustomLoadOptions, ErrorSample, FailureCounts, HttpLoadOptions, LoadHandle, LoadOptions, LoadReport, LoadShape, RequestOutcome, RequestSpec, SlowRecord } from './load.ts'
export {
  MARKER_ENV,
  fdCount,
  fdKinds,
  freePort,
  isAlive,
  killMarked,
  newMarker,
  openFds,
  processesWithMarker,
  readPidFile,
  rssKb,
  startNode,
  startProcess,
  tool,
  waitFor,
  waitForPidExit
} from './process.ts'
export type { FdKinds, StartNodeOptions, StartProcessOptions, Started, WaitForOptions } from './process.ts'
export { tracker } from './tracker.ts'
export type { AfterHookHost, Tracker } from './tracker.ts'
export { rounds } from './scale.ts'
export { answeredPids, waitForAnswerFrom } from './answers.ts'
export type { AnswerCounter, PidMatch } from './answers.ts'
export { assertPublicSurface, publicSurface } from './surface.ts'
export type { PinnedEntry, Surface } from './surface.ts'
export { nginxBinary, nginxCheck, nginxConfig, startNginx } from './nginx.ts'
export type { Nginx, NginxOptions } from './nginx.ts'
export { AppUnderTest } from './app.ts'
export type { AppEvent, LaunchOptions } from './app.ts'
