package cluster

// CallTimeout lets the external tests check that calls give up in time.
const CallTimeout = callTimeout
