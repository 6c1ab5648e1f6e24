#include "errors.h"

#include <uv.h>

#include <cerrno>
#include <cstring>

namespace imz {

const char* RsCodeName(rs_result result) {
  switch (result) {
    case RS_DONE: return "RS_DONE";
    case RS_BLOCKED: return "RS_BLOCKED";
    case RS_RUNNING: return "RS_RUNNING";
    case RS_TEST_SKIPPED: return "RS_TEST_SKIPPED";
    case RS_IO_ERROR: return "RS_IO_ERROR";
    case RS_SYNTAX_ERROR: return "RS_SYNTAX_ERROR";
    case RS_MEM_ERROR: return "RS_MEM_ERROR";
    case RS_INPUT_ENDED: return "RS_INPUT_ENDED";
    case RS_BAD_MAGIC: return "RS_BAD_MAGIC";
    case RS_UNIMPLEMENTED: return "RS_UNIMPLEMENTED";
    case RS_CORRUPT: return "RS_CORRUPT";
    case RS_INTERNAL_ERROR: return "RS_INTERNAL_ERROR";
    case RS_PARAM_ERROR: return "RS_PARAM_ERROR";
  }
  return "RS_INTERNAL_ERROR";
}

Napi::Array LogToJs(Napi::Env env, const LogList& log) {
  Napi::Array out = Napi::Array::New(env, log.size());
  for (size_t i = 0; i < log.size(); i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, log[i].level));
    pair.Set(1u, Napi::String::New(env, log[i].message));
    out.Set(static_cast<uint32_t>(i), pair);
  }
  return out;
}

Napi::Error RsError(Napi::Env env, rs_result result, const std::string& detail, const LogList& log) {
  const std::string why = detail.empty() ? FirstError(log) : detail;
  std::string message = rs_strerror(result);
  if (result == RS_PARAM_ERROR && !why.empty()) {
    message = why;  // librsync calls this "unexplained problem"; our own reason says more
  } else if (!why.empty()) {
    message += ": " + why;
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, RsCodeName(result)));
  err.Set("rsLog", LogToJs(env, log));
  return err;
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "EIO";
  Napi::Error e = Napi::Error::New(env, code + ": " + uv_strerror(-err) + ", " + syscall + " '" + path + "'");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("path", Napi::String::New(env, path));
  return e;
}

}  // namespace imz
