// Package logfwd forwards the appliance's log records to a remote syslog
// collector over UDP, as configured by GET/PUT /config/logging.
//
// A Handler sits in front of the daemon's own slog handler: every record that
// handler is enabled for still reaches it, and records at or above the
// configured level are also sent, one RFC 5424 message per UDP datagram
// (RFC 5426), to ipAddress:port.
// An ipAddress of 0.0.0.0 (or ::) turns forwarding off; that is the default.
//
// Wire format, per record:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - [attrs@32473 key="value" ...] MSG
//
// The fields:
//
//   - PRI uses Facility (daemon, 3): keywardend is a system daemon, and
//     collectors tell appliances apart by HOSTNAME and APP-NAME. Severity maps
//     from the slog level: error and above -> err (3), warn -> warning (4),
//     info -> informational (6), below info -> debug (7).
//   - TIMESTAMP is the record time in UTC, RFC 3339 with microseconds; a
//     record without a time gets "-".
//   - HOSTNAME (at most 255 octets), APP-NAME (48) are printable US-ASCII;
//     other octets become '_'. PROCID is the process ID; MSGID is "-".
//   - Attributes (from WithAttrs and the record) become SD-PARAMs of a single
//     SD-ELEMENT with SD-ID SDID rather than key=value text in MSG, so a
//     collector can parse them without guessing at quoting. Groups are
//     flattened into dotted names ("req.id"); names are cut to the 32 octets
//     RFC 5424 allows. Values escape '"', '\' and ']' with a backslash. A
//     record without attributes has "-" as its structured data.
//   - MSG is the record's message, prefixed with a UTF-8 BOM only when it is
//     not plain ASCII, as RFC 5424 section 6.4 asks.
//
// A datagram is at most MaxMessage octets: attributes that do not fit are
// left out (keeping room for the message), then the message is cut at a
// character boundary.
//
// Sending never blocks the logging goroutine: records are formatted by the
// caller and handed to one sender goroutine through a bounded queue; when the
// queue is full, or a send fails, the record is dropped and counted
// (Handler.Dropped). Failures are not logged, since the log would feed itself.
package logfwd
