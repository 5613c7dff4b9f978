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
