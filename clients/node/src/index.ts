/**
 * smtpsink: client and Testcontainers module for the smtpsink SMTP sink.
 *
 * `SinkClient` (also `require('smtpsink-testcontainers/client')`, no testcontainers needed)
 * wraps the smtpsink.v1 gRPC API; `SmtpSinkContainer` starts the image.
 */
export * from './client';
export * from './container';
