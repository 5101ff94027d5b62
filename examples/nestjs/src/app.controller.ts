import { Controller, Get, Query, Res } from '@nestjs/common'

const version = process.env.APP_VERSION ?? 'v1'

/** Express's res and Fastify's reply both have header(name, value). */
interface Reply { header: (name: string, value: string) => unknown }

@Controller()
export class AppController {
  @Get()
  hello (@Res({ passthrough: true }) reply: Reply): { pid: number, version: string } {
    reply.header('x-pid', String(process.pid))
    return { pid: process.pid, version }
  }

  @Get('sleep')
  async sleep (@Query('ms') ms: string | undefined, @Res({ passthrough: true }) reply: Reply): Promise<{ pid: number, version: string }> {
    await new Promise((resolve) => setTimeout(resolve, Number(ms ?? 0)))
    return this.hello(reply)
  }
}
