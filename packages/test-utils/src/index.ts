export { startLoad } from './load.ts'
export type { ErrorSample, FailureCounts, LoadHandle, LoadOptions, LoadReport, SlowRecord } from './load.ts'
export {
  MARKER_ENV,
  fdCount,
  freePort,
  isAlive,
  killMarked,
  newMarker,
  processesWithMarker,
  readPidFile,
  rssKb,
  startNode,
  startProcess,
  waitFor,
  waitForPidExit
} from './process.ts'
export type { StartNodeOptions, StartProcessOptions, Started, WaitForOptions } from './process.ts'
export { cleanup, tracker } from './tracker.ts'
export type { AfterHookHost, Tracker } from './tracker.ts'
export { rounds } from './scale.ts'
export { answeredPids, waitForAnswerFrom } from './answers.ts'
export type { AnswerCounter, PidMatch } from './answers.ts'
