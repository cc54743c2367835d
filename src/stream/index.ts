/** The Stream API's event core (events, log, file, dockerd translation and reader, filters). */
export * from "./event.ts";
export * from "./event-log.ts";
export * from "./event-file.ts";
export * from "./docker-events.ts";
export * from "./docker-event-reader.ts";
export * from "./filters.ts";
export * from "./reconnect.ts";
