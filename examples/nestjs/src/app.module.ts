import { Module } from '@nestjs/common'
import { AppController } from './app.controller.js'
import { ShutdownLog } from './shutdown-log.js'

@Module({ controllers: [AppController], providers: [ShutdownLog] })
export class AppModule {}
