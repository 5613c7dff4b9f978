// mcpwire's public API.
export { createHandler, serve, type McpHandler, type McpWireServer, type ServeOptions } from './server.js';
export type { AuthOptions, CorsOptions, McpWireOptions } from './options.js';
export type { CreateServer, SdkServerLike } from './backend/sdk-server.js';
export type { Backend, BackendFactory, BackendHost, InboundExtra, SessionContext, Wire } from './backend/types.js';
export type { HealthCheck, HealthReport } from './http/health.js';
export type { AuthorizedRequest, RouteHandler } from './http/handler.js';
export type { Bus, ChangeEvent, EventStore, StreamLog } from './store/types.js';
export { MemoryBus, MemoryEventStore } from './store/memory.js';
export { SUPPORTED_PROTOCOL_VERSIONS } from './wire/inbound.js';
export { StreamableHttpClientTransport, type StreamableHttpClientOptions } from './client/streamable-http.js';
export { SseClientTransport, NotAnSseEndpoint } from './client/sse.js';
export { AutoTransport, autoTransport, connect, createTransport, legacyCandidates, NoTransportError, FALLBACK_STATUSES, type ClientConnectOptions, type ConnectOptions, type WireChoice } from './client/connect.js';
export { HttpError, NetworkError, type ClientLogger, type ClientTransportOptions } from './client/http.js';
export type { ReconnectOptions } from './client/reconnect.js';
export type { TransportStats } from './client/stats.js';
export { StdioBridge, type StdioBridgeOptions } from './client/stdio-bridge.js';
