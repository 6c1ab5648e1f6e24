// Routes librsync's log messages (rs_trace_to) to the job that produced them instead of stderr.
#pragma once
#include <librsync.h>
#include <string>
#include <vector>

namespace imz {

/** One message librsync logged, with its syslog-style level. */
struct LogEntry {
  int level;
  std::string message;
};

/** Messages collected while a scope is active on this thread (bounded: the first kMaxLog are kept). */
using LogList = std::vector<LogEntry>;
constexpr size_t kMaxLog = 64;

/** Installs the routing trace function once per process; idempotent. */
void InstallTrace();

/**
 * While alive, every message librsync logs on this thread is appended to `sink`. Work on a job
 * runs inside one of these, so its messages travel back to JavaScript with the job's result.
 * Messages logged outside any scope are dropped (never written to stderr).
 */
class TraceScope {
 public:
  explicit TraceScope(LogList* sink);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  LogList* previous_;
};

/** The first error-level message in `log` (the specific cause, before librsync's summary), or "". */
std::string FirstError(const LogList& log);

}  // namespace imz
