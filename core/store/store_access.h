// Internal to core/store: the connection of a SessionStore, for the code of its other tables
// (trace_store.cpp, session_catalog.cpp) that lives beside it.
#pragma once

#include "core/store/session_store.h"

namespace tb::store::detail {

struct StoreAccess {
  static sqlite3* db(const SessionStore& store) { return store.db_; }
};

}  // namespace tb::store::detail
