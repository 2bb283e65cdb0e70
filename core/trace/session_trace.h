// A stored session as one Trace, ready for the Chrome trace export (chrome_trace.h): its stored
// trace (store::load_trace: tracks, spans, counters, flows), every metric as a counter
// (train_loss, samples_per_s, loader_queue_depth, loss_scale, ...), and as metadata the stored
// trace's own (an imported trace's source and device properties) plus the session's record,
// summary and params.
#pragma once

#include "core/store/session_store.h"
#include "core/trace/model.h"

namespace tb::trace {

// Throws tb::Error when the store has no such session, store::StoreError on a damaged trace.
Trace session_trace(const store::SessionStore& store, store::SessionId id);

}  // namespace tb::trace
