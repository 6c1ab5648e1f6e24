// imz_rsync: the project's librsync binding (streaming jobs on worker threads) plus utimensat,
// flushing and the BLAKE2b content hash.
#include "addon.h"

#include <librsync.h>

#include "job.h"
#include "signature.h"
#include "trace.h"

namespace imz {

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

namespace {

Napi::Value SetTraceLevel(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setTraceLevel(level: number)");
  const int level = info[0].As<Napi::Number>().Int32Value();
  rs_trace_set_level(static_cast<rs_loglevel>(level < RS_LOG_EMERG ? RS_LOG_EMERG : level > RS_LOG_DEBUG ? RS_LOG_DEBUG : level));
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallTrace();
  auto* data = new AddonData();
  env.SetInstanceData(data);
  Napi::Function signature = Signature::Define(env);
  data->signature_ctor = Napi::Persistent(signature);
  exports.Set("Signature", signature);
  exports.Set("Job", Job::Define(env));
  exports.Set("setTraceLevel", Napi::Function::New<SetTraceLevel>(env, "setTraceLevel"));
  exports.Set("librsyncVersion", Napi::String::New(env, rs_librsync_version));
  InitUtimens(env, exports);
  InitSyncfs(env, exports);
  InitHash(env, exports);
  InitHashStream(env, exports);
  InitBeneath(env, exports);
  InitWalk(env, exports);
  InitPosix(env, exports);
  InitXattr(env, exports);
  InitStage(env, exports);
  InitCopyRange(env, exports);
  return exports;
}

}  // namespace imz

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return imz::Init(env, exports); }

NODE_API_MODULE(imz_rsync, InitAddon)
