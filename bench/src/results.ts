/** What one bench run measured: report.ts writes it out, svg.ts draws it. */
import type { ScalingConfig, ScalingResult } from './scaling.ts'
import type { ScenarioConfig, ScenarioResult } from './scenario.ts'

export interface BenchResults {
  meta: {
    run: string
    date: string
    node: string
    cpus: number
    cpuModel: string
    platform: string
    commit: string | null
    durationMs: number
    scenario: ScenarioConfig
    scaling: ScalingConfig | null
    /** Share of the machine's CPU other processes used just before the run (0..1). */
    foreignCpuAtStart?: number
  }
  /** Per contender: spawn to first 2xx answer with the machine otherwise idle, ms. */
  coldStartIdle: Record<string, number[]>
  scenarios: ScenarioResult[]
  scaling: ScalingResult | null
}
