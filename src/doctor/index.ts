/** `agent doctor`: checks a host and says what is wrong in plain words. */
export type { DoctorDeps, DoctorTarget } from "./context.ts";
export { EXPIRY_WARNING_DAYS } from "./context.ts";
export { doctorExitCode, type Finding, overallStatus, type Status } from "./finding.ts";
export { runDoctor } from "./run.ts";
