// A stored session as an ExportTrace (core/trace/chrome_trace.h): its spans on their tracks, every
// metric as a counter (train_loss, samples_per_s, loader_queue_depth, loss_scale, ...) and the
// session's record, summary and params as metadata.
#pragma once

#include "core/store/session_store.h"
#include "core/trace/chrome_trace.h"

namespace tb::trace {

// Throws tb::Error when the store has no such session.
ExportTrace session_trace(const store::SessionStore& store, store::SessionId id);

}  // namespace tb::trace
