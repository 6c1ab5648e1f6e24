#include "trace.h"

#include <mutex>

namespace imz {
namespace {

thread_local LogList* current_sink = nullptr;

void RouteTrace(rs_loglevel level, char const* msg) {
  LogList* sink = current_sink;
  if (sink == nullptr || sink->size() >= kMaxLog) return;
  std::string text(msg == nullptr ? "" : msg);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  // "librsync: ERROR: (fn) text" -> "(fn) text": the level travels separately.
  const std::string prefix = "librsync: ";
  if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
  const size_t colon = text.find(": ");
  if (colon != std::string::npos && colon > 0 &&
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == colon) {
    text.erase(0, colon + 2);
  }
  sink->push_back(LogEntry{static_cast<int>(level), std::move(text)});
}

}  // namespace

void InstallTrace() {
  static std::once_flag once;
  std::call_once(once, [] { rs_trace_to(RouteTrace); });
}

TraceScope::TraceScope(LogList* sink) : previous_(current_sink) { current_sink = sink; }

TraceScope::~TraceScope() { current_sink = previous_; }

std::string FirstError(const LogList& log) {
  for (const LogEntry& entry : log) {
    if (entry.level <= RS_LOG_ERR) return entry.message;
  }
  return "";
}

}  // namespace imz
