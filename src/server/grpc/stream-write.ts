import type { ServerWritableStream } from '@grpc/grpc-js';

/** True once the client cancelled the call or the stream was torn down. */
export function streamStopped(call: ServerWritableStream<unknown, unknown>): boolean {
  return call.cancelled || call.destroyed;
}

/**
 * Writes one message of a server stream; waits for 'drain' when the stream's
 * buffer is full (backpressure). False when the client went away.
 */
export async function writeMessage<Res>(call: ServerWritableStream<unknown, Res>, message: Res): Promise<boolean> {
  if (streamStopped(call)) return false;
  if (!call.write(message)) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        call.off('drain', done);
        call.off('close', done);
        call.off('cancelled', done);
        resolve();
      };
      call.on('drain', done);
      call.on('close', done);
      call.on('cancelled', done);
    });
  }
  return !streamStopped(call);
}
