// Errors thrown to JavaScript carry a literal `code` (librsync's result name, or an errno name).
#pragma once
#include <librsync.h>
#include <napi.h>

#include <string>

#include "trace.h"

namespace imz {

/** librsync's name for a result, e.g. "RS_CORRUPT". */
const char* RsCodeName(rs_result result);

/**
 * An Error whose `code` is the result's name and whose message is rs_strerror plus librsync's own
 * last error message, if it logged one. `log` is attached as `rsLog` ([level, message] pairs).
 */
Napi::Error RsError(Napi::Env env, rs_result result, const std::string& detail, const LogList& log);

/** Converts collected messages to a JS array of [level, message] pairs. */
Napi::Array LogToJs(Napi::Env env, const LogList& log);

/** An Error shaped like Node's fs errors (libuv's message): code (e.g. "ENOENT"), errno, syscall and path. */
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path);

}  // namespace imz
