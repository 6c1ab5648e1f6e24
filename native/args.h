// Argument checks shared by the addon's system-call wrappers: bytes (a string or Buffer, as the
// kernel takes names) and integers, each failing with a TypeError that names the argument.
#pragma once

#include <napi.h>

#include <string>

namespace imz {

/** A string or Buffer argument as bytes; throws on NUL (and, with `non_empty`, on an empty one). */
inline std::string BytesArg(const Napi::CallbackInfo& info, size_t i, const char* what, bool non_empty = false) {
  std::string s;
  if (info.Length() > i && info[i].IsBuffer()) {
    auto b = info[i].As<Napi::Buffer<char>>();
    s.assign(b.Data(), b.Length());
  } else if (info.Length() > i && info[i].IsString()) {
    s = info[i].As<Napi::String>().Utf8Value();
  } else {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string or Buffer");
  }
  if (s.find('\0') != std::string::npos || (non_empty && s.empty())) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + (non_empty ? " is empty or contains NUL" : " contains NUL"));
  }
  return s;
}

/** A number argument as an int. */
inline int IntArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

}  // namespace imz
