#!/usr/bin/env -S node --initial-old-space-size=128
import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { failureOf, runCommand } from './run-command.js';

// grpc-js prints its own "E No address added ..." beside the error we report for the same
// failure (a port clash read twice). Every failure reaches the user through our one line;
// GRPC_VERBOSITY, when set, still turns grpc-js's log on for debugging.
if (process.env['GRPC_VERBOSITY'] === undefined) setLogVerbosity(logVerbosity.NONE);
silenceTlsServerNameWarning();

runCommand(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    // Bad input is one readable line (exit 2); anything else is a bug or an outage, also one line (exit 1).
    const failure = failureOf(error);
    process.stderr.write(failure.line);
    process.exitCode = failure.code;
  },
);

/**
 * grpc-js dials TLS with the ServerName set to the host it was given, an IP address in every
 * default configuration (127.0.0.1), and Node answers with one DEP0123 warning on stderr per
 * process, beside our one-line errors. The certificate check is unaffected (an IP is checked
 * against the certificate's IP names), so this process drops that one warning and no other.
 */
function silenceTlsServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const options = rest[0];
    const code = typeof options === 'object' && options !== null ? (options as { code?: unknown }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
